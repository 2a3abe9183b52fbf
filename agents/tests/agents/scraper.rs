//! `scraper.enrich` against local servers speaking Hunter's and Apollo's shapes.

use rex_adapters::enrichment::{ApolloConfig, HunterConfig};
use rex_agents::AgentsConfig;
use rex_agents::scraper::Scraper;
use rex_workers::Agent;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{clock, ctx, http, leads, reachable_lead};

fn scraper(hunter: &MockServer, apollo: &MockServer) -> Scraper {
    scraper_at(hunter, apollo, clock())
}

fn scraper_at(
    hunter: &MockServer,
    apollo: &MockServer,
    clock: std::sync::Arc<dyn rex_adapters::clock::Clock>,
) -> Scraper {
    let mut h = HunterConfig::new("hunter-key");
    h.base_url = Url::parse(&hunter.uri()).unwrap();
    h.http = http();
    let mut a = ApolloConfig::new("apollo-key");
    a.base_url = Url::parse(&apollo.uri()).unwrap();
    a.http = http();
    let config = AgentsConfig {
        hunter: Some(h),
        apollo: Some(a),
        ..AgentsConfig::default()
    }
    .with_clock(clock);
    Scraper::from_config(&config).unwrap()
}

/// A lead without an email: the waterfall looks one up.
fn emailless(id: &str, first: &str) -> Value {
    let mut lead = reachable_lead(id);
    lead["first_name"] = json!(first);
    lead["last_name"] = json!("Doe");
    lead["email"] = Value::Null;
    lead
}

fn apollo_person(first: &str, email: Option<&str>, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"person": {
        "id": "64a7ff0cc4dfae00013df1a5", "first_name": first, "last_name": "Doe", "name": format!("{first} Doe"),
        "linkedin_url": "http://www.linkedin.com/in/lee-doe", "title": "Head of Revenue",
        "email_status": status, "email": email,
        "organization": {"id": "5e66b6381e05b4008c8331b8", "name": "Acme", "primary_domain": "acme.example"},
        "phone_numbers": []
    }}))
}

fn apollo_match(first: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/api/v1/people/match"))
        .and(header("x-api-key", "apollo-key"))
        .and(body_partial_json(
            json!({"first_name": first, "last_name": "Doe", "domain": "acme.example"}),
        ))
}

fn hunter_find(first: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/v2/email-finder"))
        .and(header("x-api-key", "hunter-key"))
        .and(query_param("first_name", first))
}

fn hunter_found(email: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": {"first_name": "Kim", "last_name": "Doe", "email": email, "score": email.map(|_| 94),
                 "domain": "acme.example", "accept_all": true, "position": "VP Sales", "twitter": null,
                 "linkedin_url": null, "phone_number": null, "company": "Acme", "sources": [],
                 "verification": {"date": null, "status": null}},
        "meta": {"params": {"first_name": "Kim", "last_name": "Doe", "domain": "acme.example"}}
    }))
}

fn hunter_verified(email: &str, status: &str) -> (wiremock::MockBuilder, ResponseTemplate) {
    (
        Mock::given(method("GET")).and(path("/v2/email-verifier")).and(query_param("email", email)),
        ResponseTemplate::new(200).set_body_json(json!({
            "data": {"status": status, "result": "risky", "score": 60, "email": email, "regexp": true,
                     "gibberish": false, "disposable": false, "webmail": false, "mx_records": true,
                     "smtp_server": true, "smtp_check": true, "accept_all": status == "accept_all",
                     "block": false, "sources": []},
            "meta": {"params": {"email": email}}
        })),
    )
}

#[tokio::test]
async fn the_waterfall_fills_emails_with_provenance_and_marks_catch_all_risky() {
    let (hunter, apollo) = (MockServer::start().await, MockServer::start().await);
    // Lee: Apollo (cheapest per hit for an email) has a verified address.
    apollo_match("Lee")
        .respond_with(apollo_person("Lee", Some("lee@acme.example"), "verified"))
        .expect(1)
        .mount(&apollo)
        .await;
    // Kim: Apollo has nobody, Hunter finds an address on a catch-all domain.
    apollo_match("Kim")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"person": null})))
        .expect(1)
        .mount(&apollo)
        .await;
    hunter_find("Kim")
        .respond_with(hunter_found(Some("kim@acme.example")))
        .expect(1)
        .mount(&hunter)
        .await;
    let (verify, answer) = hunter_verified("kim@acme.example", "accept_all");
    verify.respond_with(answer).expect(1).mount(&hunter).await;

    let out = scraper(&hunter, &apollo)
        .run(
            &ctx("enrich"),
            json!({"leads": [emailless("l1", "Lee"), emailless("l2", "Kim"), reachable_lead("l3")],
                   "campaign_id": "camp-1", "budget": 100}),
        )
        .await
        .unwrap();
    let [lee, kim, ana] = &leads(&out)[..] else {
        panic!("three leads")
    };
    assert_eq!(lee["email"], "lee@acme.example");
    assert_eq!(lee["email_status"], "valid");
    assert_eq!(lee["email_risk"], "safe");
    assert_eq!(lee["data_sources"], json!(["apollo", "crm"]));
    let email_source = lee["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["field"] == "email")
        .unwrap();
    assert_eq!(email_source["source"], "apollo");
    assert_eq!(kim["email"], "kim@acme.example");
    assert_eq!(
        kim["email_status"], "accept_all",
        "catch-all is never valid"
    );
    assert_eq!(kim["email_risk"], "risky");
    assert_eq!(kim["data_sources"], json!(["crm", "hunter"]));
    assert!(lee["quality"].as_u64().unwrap() > kim["quality"].as_u64().unwrap());
    assert_eq!(
        ana["enrichment"]["wanted"],
        json!([]),
        "a complete lead is left alone"
    );
    assert_eq!(ana["data_sources"], json!(["crm"]));
    // Apollo 1 (Lee) + Hunter finder 1 + verifier 0.5 (Kim).
    assert_eq!(out["spent"]["credits"], 2.5);
    assert_eq!(out["spent"]["lookups"], 4);
    assert_eq!(out["spent"]["up_to_date"], 1);
}

#[tokio::test]
async fn no_budget_means_no_calls() {
    let (hunter, apollo) = (MockServer::start().await, MockServer::start().await);
    let out = scraper(&hunter, &apollo)
        .run(
            &ctx("enrich"),
            json!({"leads": [emailless("l1", "Lee")], "budget": 0}),
        )
        .await
        .unwrap();
    assert_eq!(out["spent"]["skipped_budget"], 1);
    assert!(
        leads(&out)[0]["enrichment"]["note"]
            .as_str()
            .unwrap()
            .starts_with("enrichment_budget_spent")
    );
    assert!(hunter.received_requests().await.unwrap().is_empty());
    assert!(apollo.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_provider_outage_that_leaves_a_lead_without_an_email_is_retryable() {
    let (hunter, apollo) = (MockServer::start().await, MockServer::start().await);
    apollo_match("Lee")
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"error": "Service Unavailable"})),
        )
        .mount(&apollo)
        .await;
    hunter_find("Lee")
        .respond_with(hunter_found(None))
        .mount(&hunter)
        .await;
    let err = scraper(&hunter, &apollo)
        .run(
            &ctx("enrich"),
            json!({"leads": [emailless("l1", "Lee")], "budget": 10}),
        )
        .await
        .unwrap_err();
    assert!(err.retryable, "{}", err.message);
    assert!(
        err.message.contains("apollo") && err.message.contains("503"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn without_keys_the_stand_ins_record_lookups_and_spend_nothing() {
    let config = AgentsConfig::default().with_clock(clock());
    let log = config.dry_run.clone();
    let out = Scraper::from_config(&config)
        .unwrap()
        .run(
            &ctx("enrich"),
            json!({"leads": [emailless("l1", "Lee")], "budget": 10}),
        )
        .await
        .unwrap();
    assert_eq!(out["spent"]["credits"], 0);
    assert_eq!(
        out["spent"]["providers"],
        json!({"hunter": "dry_run", "apollo": "dry_run"})
    );
    assert!(out["spent"]["dry_run_lookups"].as_u64().unwrap() >= 1);
    assert!(!log.entries().is_empty());
    assert!(
        leads(&out)[0]["email"].is_null(),
        "a dry run invents nothing"
    );
    let err = Scraper::from_config(&config)
        .unwrap()
        .run(&ctx("enrich"), json!({"leads": []}))
        .await
        .unwrap_err();
    assert!(err.message.starts_with("input.budget: required"));
}

/// `scraper.enrich` with the 30-day cache in the domain store.
mod on_the_store {
    use std::sync::Arc;

    use chrono::Duration;
    use rex_adapters::clock::{Clock, ManualClock};
    use rex_adapters::enrichment::PersonQuery;
    use rex_domain_store::{get_fresh_enrichment, tenant_by_slug};
    use rex_store::Store;
    use rex_workers::Agent;
    use serde_json::{Value, json};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::{apollo_match, apollo_person, emailless, scraper_at};
    use crate::common::{ctx, leads};

    on_both_backends!(
        a_second_enrich_of_the_same_lead_is_answered_by_the_store,
        a_cache_entry_older_than_thirty_days_is_looked_up_again,
    );

    /// Apollo knows Lee's verified address; Hunter must not be asked for it.
    async fn servers(apollo_calls: u64) -> (MockServer, MockServer) {
        let (hunter, apollo) = (MockServer::start().await, MockServer::start().await);
        apollo_match("Lee")
            .respond_with(apollo_person("Lee", Some("lee@acme.example"), "verified"))
            .expect(apollo_calls)
            .mount(&apollo)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/email-finder"))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&hunter)
            .await;
        (hunter, apollo)
    }

    async fn enrich(scraper: &rex_agents::scraper::Scraper) -> anyhow::Result<Value> {
        let out = scraper
            .run(
                &ctx("enrich"),
                json!({"leads": [emailless("l1", "Lee")], "budget": 100}),
            )
            .await?;
        Ok(leads(&out)[0].clone())
    }

    async fn calls(server: &MockServer) -> usize {
        server.received_requests().await.map_or(0, |r| r.len())
    }

    /// The key the waterfall files Lee under.
    fn lee_key() -> String {
        let lead = emailless("l1", "Lee");
        PersonQuery {
            first_name: Some("Lee".into()),
            last_name: Some("Doe".into()),
            domain: lead["company"]["domain"].as_str().map(str::to_owned),
            company: lead["company"]["name"].as_str().map(str::to_owned),
            email: None,
            linkedin_url: lead["linkedin_url"].as_str().map(str::to_owned),
        }
        .cache_key()
    }

    async fn a_second_enrich_of_the_same_lead_is_answered_by_the_store(
        store: &Store,
    ) -> anyhow::Result<()> {
        let (hunter, apollo) = servers(1).await;
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(rex_domain::demo::as_of()));
        let first = enrich(
            &scraper_at(&hunter, &apollo, clock.clone()).with_store(store.clone(), "default"),
        )
        .await?;
        assert_eq!(first["email"], "lee@acme.example");
        assert_eq!(first["enrichment"]["cache_hit"], false);

        let before = (calls(&hunter).await, calls(&apollo).await);
        // another worker: nothing in its memory, the store answers
        let second = enrich(
            &scraper_at(&hunter, &apollo, clock.clone()).with_store(store.clone(), "default"),
        )
        .await?;
        assert_eq!(second["enrichment"]["cache_hit"], true, "{second}");
        assert_eq!(second["email"], "lee@acme.example");
        assert_eq!(second["enrichment"]["steps"][0]["operation"], "cache");
        let after = (calls(&hunter).await, calls(&apollo).await);
        assert_eq!(
            before, after,
            "no HTTP call to Hunter or Apollo on a cache hit"
        );

        let tenant = tenant_by_slug(store.conn(), "default")
            .await?
            .expect("tenant");
        let row = get_fresh_enrichment(store.conn(), tenant.id, &lee_key(), clock.now())
            .await?
            .expect("cached");
        assert_eq!(row.provider, "apollo");
        Ok(())
    }

    async fn a_cache_entry_older_than_thirty_days_is_looked_up_again(
        store: &Store,
    ) -> anyhow::Result<()> {
        let (hunter, apollo) = servers(2).await;
        let manual = Arc::new(ManualClock::new(rex_domain::demo::as_of()));
        let clock: Arc<dyn Clock> = manual.clone();
        let scraper =
            scraper_at(&hunter, &apollo, clock.clone()).with_store(store.clone(), "default");
        let first = enrich(&scraper).await?;
        assert_eq!(first["enrichment"]["cache_hit"], false);

        manual.advance(Duration::days(31));
        let tenant = tenant_by_slug(store.conn(), "default")
            .await?
            .expect("tenant");
        let stale = get_fresh_enrichment(store.conn(), tenant.id, &lee_key(), clock.now()).await?;
        assert!(stale.is_none(), "31 days old is not fresh");

        let again = enrich(&scraper).await?;
        assert_eq!(again["enrichment"]["cache_hit"], false, "{again}");
        let row = get_fresh_enrichment(store.conn(), tenant.id, &lee_key(), clock.now())
            .await?
            .expect("refreshed");
        assert_eq!(row.fetched_at, rex_store::to_db_precision(clock.now()));
        Ok(())
    }
}
