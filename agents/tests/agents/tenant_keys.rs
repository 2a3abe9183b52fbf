//! Each tenant's stored provider credentials (`/v1/secrets`, sealed by the keyring)
//! reach the agents' provider calls: the tenant's key when it stored one, the
//! environment's when it stored none, an error (and no request) when it stored half a
//! pair or something this worker cannot open. Local servers speak SendGrid's,
//! Twilio's, OpenAI's and Hunter's shapes; the store runs on both backends.

use std::sync::Arc;
use std::time::Duration;

use rex_adapters::enrichment::HunterConfig;
use rex_adapters::llm::LlmConfig;
use rex_adapters::twilio::{SenderId, TwilioConfig};
use rex_agents::AgentsConfig;
use rex_agents::personalizer::Personalizer;
use rex_agents::scraper::Scraper;
use rex_domain_store::keyring::Keyring;
use rex_domain_store::{create_tenant, put_secret};
use rex_store::Store;
use rex_store::testing::TestDb;
use rex_workers::{Agent, TaskContext};
use serde_json::json;
use url::Url;
use uuid::Uuid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{http, reachable_lead};
use crate::store_world::{Providers, SENDGRID_KEY, TENANT, World, lead, send_input, t0, task};

on_both_backends!(
    a_tenants_stored_sendgrid_key_is_used_instead_of_the_operators,
    a_tenant_without_stored_keys_uses_the_environments,
    two_tenants_in_one_worker_each_send_with_their_own_key,
    half_a_twilio_pair_is_refused_naming_the_missing_secret_and_nothing_is_sent,
    a_secret_the_worker_cannot_open_is_an_error_never_the_operators_key,
    a_changed_key_is_used_once_the_remembered_one_expires,
    the_personalizer_calls_the_llm_with_the_tenants_key,
    the_scraper_calls_hunter_with_the_tenants_key,
    the_reply_classifier_calls_the_llm_with_the_tenants_key,
);

const KEYRING: &str = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const OPERATOR_TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TENANT_TWILIO_SID: &str = "ACfedcba9876543210fedcba9876543210";

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::parse(KEYRING).unwrap())
}

async fn store_secret(db: &Store, tenant: Uuid, name: &str, value: &str) -> anyhow::Result<()> {
    put_secret(db.conn(), &keyring(), tenant, name, value, t0()).await?;
    Ok(())
}

/// The world's config, with the keyring, and tenants' own credentials pointed at the
/// same local servers as the environment's.
fn config(w: &World, providers: &Providers<'_>) -> AgentsConfig {
    let mut c = w.config(providers).with_keyring(keyring());
    if let Some(server) = providers.sendgrid {
        c.tenant_defaults.sendgrid.base_url = Url::parse(&server.uri()).unwrap();
        c.tenant_defaults.sendgrid.http = http();
    }
    if let Some(server) = providers.twilio {
        let mut t = TwilioConfig::new("", "", SenderId::Number("+15005550006".into()));
        t.base_url = Url::parse(&server.uri()).unwrap();
        t.http = http();
        c.tenant_defaults.twilio = Some(t);
    }
    c
}

/// A SendGrid accepting sends with `key`, expecting `times` of them.
async fn accepts(server: &MockServer, key: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sg-0001"))
        .expect(times)
        .named(format!("sends with {key}"))
        .mount(server)
        .await;
}

fn sendgrid(server: &MockServer) -> Providers<'_> {
    Providers {
        sendgrid: Some(server),
        ..Default::default()
    }
}

async fn a_tenants_stored_sendgrid_key_is_used_instead_of_the_operators(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    store_secret(db, w.tenant, "sendgrid.api_key", "SG.acme-own").await?;
    let server = MockServer::start().await;
    accepts(&server, "SG.acme-own", 1).await;
    accepts(&server, SENDGRID_KEY, 0).await;
    let agent = rex_agents::outreach::Outreach::from_config(
        (**db).clone(),
        &config(&w, &sendgrid(&server)),
    )?;
    let out = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "sent", "{out}");
    server.verify().await;
    Ok(())
}

async fn a_tenant_without_stored_keys_uses_the_environments(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = MockServer::start().await;
    accepts(&server, SENDGRID_KEY, 1).await;
    let agent = rex_agents::outreach::Outreach::from_config(
        (**db).clone(),
        &config(&w, &sendgrid(&server)),
    )?;
    let out = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "sent", "{out}");
    server.verify().await;
    Ok(())
}

async fn two_tenants_in_one_worker_each_send_with_their_own_key(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let globex = create_tenant(db.conn(), "globex", "Globex", t0()).await?.id;
    let domain =
        rex_domain_store::add_sending_domain(db.conn(), globex, "mail.globex.example", t0())
            .await?
            .id;
    rex_domain_store::add_mailbox(
        db.conn(),
        &rex_domain_store::NewMailbox {
            tenant_id: globex,
            domain_id: domain,
            address: "sam@mail.globex.example".into(),
            warmup_started_at: t0() - chrono::Duration::days(100),
            daily_cap: 40,
        },
        t0(),
    )
    .await?;
    store_secret(db, w.tenant, "sendgrid.api_key", "SG.acme-own").await?;
    store_secret(db, globex, "sendgrid.api_key", "SG.globex-own").await?;
    let server = MockServer::start().await;
    accepts(&server, "SG.acme-own", 2).await;
    accepts(&server, "SG.globex-own", 1).await;
    accepts(&server, SENDGRID_KEY, 0).await;
    let agent = rex_agents::outreach::Outreach::from_config(
        (**db).clone(),
        &config(&w, &sendgrid(&server)),
    )?;
    // a mission of each tenant (ctx.tenant binds the input to it), interleaved
    let as_tenant = |tenant: &str, step: &str| TaskContext {
        tenant: tenant.into(),
        ..task("send", "m1", step, 1)
    };
    let input = |id: &str| {
        let mut i = send_input(lead(id), "email");
        i.as_object_mut().unwrap().remove("tenant");
        i
    };
    for (tenant, step, id) in [
        (TENANT, "s1", "lead-1"),
        ("globex", "s2", "lead-2"),
        (TENANT, "s3", "lead-3"),
    ] {
        let out = agent.run(&as_tenant(tenant, step), input(id)).await?;
        assert_eq!(out["status"], "sent", "{tenant}: {out}");
    }
    server.verify().await;
    Ok(())
}

async fn half_a_twilio_pair_is_refused_naming_the_missing_secret_and_nothing_is_sent(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    store_secret(db, w.tenant, "twilio.account_sid", TENANT_TWILIO_SID).await?;
    let server = MockServer::start().await;
    for sid in [OPERATOR_TWILIO_SID, TENANT_TWILIO_SID] {
        Mock::given(method("POST"))
            .and(path(format!("/2010-04-01/Accounts/{sid}/Messages.json")))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"sid": "SM1", "status": "queued", "to": "+14155550142"})),
            )
            .expect(0)
            .mount(&server)
            .await;
    }
    let providers = Providers {
        twilio: Some(&server),
        ..Default::default()
    };
    let agent =
        rex_agents::outreach::Outreach::from_config((**db).clone(), &config(&w, &providers))?;
    let err = agent
        .run(
            &task("send", "m1", "s4", 1),
            send_input(lead("lead-1"), "sms"),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable, "{}", err.message);
    assert!(
        err.message
            .contains("twilio.account_sid but not twilio.auth_token"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(TENANT_TWILIO_SID), "{}", err.message);
    // nothing was recorded as intended either
    let messages = rex_domain_store::entity::messages::Entity::find()
        .all(db.conn())
        .await?;
    assert!(messages.is_empty(), "{messages:?}");
    server.verify().await;
    Ok(())
}

use sea_orm::EntityTrait;

async fn a_secret_the_worker_cannot_open_is_an_error_never_the_operators_key(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    store_secret(db, w.tenant, "sendgrid.api_key", "SG.acme-own").await?;
    let server = MockServer::start().await;
    accepts(&server, SENDGRID_KEY, 0).await;
    accepts(&server, "SG.acme-own", 0).await;
    let cases: [(&str, Option<Keyring>, bool, &str); 3] = [
        (
            "no keyring on this worker",
            None,
            true,
            "secret storage is disabled",
        ),
        (
            "the sealing key missing from this worker's keyring",
            Some(Keyring::parse("k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap()),
            true,
            "no key \"k1\"",
        ),
        (
            "another key under the same id (the value does not open)",
            Some(Keyring::parse("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap()),
            false,
            "does not open",
        ),
    ];
    for (i, (case, ring, retryable, says)) in cases.into_iter().enumerate() {
        let mut c = config(&w, &sendgrid(&server));
        c.keyring = ring.map(Arc::new);
        let agent = rex_agents::outreach::Outreach::from_config((**db).clone(), &c)?;
        let err = agent
            .run(
                &task("send", "m1", &format!("s{i}"), 1),
                send_input(lead("lead-1"), "email"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.retryable, retryable, "{case}: {}", err.message);
        assert!(
            err.message.starts_with("tenant secret sendgrid.api_key: ")
                && err.message.contains(says),
            "{case}: {}",
            err.message
        );
        assert!(!err.message.contains("SG.acme-own"), "{case}");
    }
    server.verify().await;
    Ok(())
}

async fn a_changed_key_is_used_once_the_remembered_one_expires(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    store_secret(db, w.tenant, "sendgrid.api_key", "SG.acme-old").await?;
    let server = MockServer::start().await;
    accepts(&server, "SG.acme-old", 2).await;
    accepts(&server, "SG.acme-new", 1).await;
    let ttl = Duration::from_millis(400);
    let c = config(&w, &sendgrid(&server)).with_credentials_ttl(ttl);
    let agent = rex_agents::outreach::Outreach::from_config((**db).clone(), &c)?;
    let agent = &agent;
    let send = |step: &'static str, id: &'static str| async move {
        agent
            .run(&task("send", "m1", step, 1), send_input(lead(id), "email"))
            .await
    };
    assert_eq!(send("s1", "lead-1").await?["status"], "sent");
    store_secret(db, w.tenant, "sendgrid.api_key", "SG.acme-new").await?;
    // remembered: the old key, without reading the database again
    assert_eq!(send("s2", "lead-2").await?["status"], "sent");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(send("s3", "lead-3").await?["status"], "sent");
    server.verify().await;
    Ok(())
}

fn completion() -> ResponseTemplate {
    let answer = json!({"subject": "Acme and lead routing", "body": "Hi Ana,\n\nLast spring Acme was losing hours to manual lead routing. Northwind had the same problem and cut response times by 40% once every inbound lead was routed in seconds. Would a short call next week help you see whether the same could work for Acme?\n\nSam"});
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "llama3.1:8b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.to_string()}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 90}
    }))
}

async fn the_personalizer_calls_the_llm_with_the_tenants_key(db: &TestDb) -> anyhow::Result<()> {
    let tenant = create_tenant(db.conn(), TENANT, "Acme", t0()).await?.id;
    store_secret(db, tenant, "llm.api_key", "sk-acme-own").await?;
    let server = MockServer::start().await;
    for (key, times) in [("sk-acme-own", 1), ("sk-operator", 0)] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(completion())
            .expect(times)
            .mount(&server)
            .await;
    }
    let mut llm = LlmConfig::new(Url::parse(&server.uri())?, "llama3.1:8b");
    llm.api_key = Some(rex_adapters::Secret::new("sk-operator"));
    llm.http = http();
    let mut config = AgentsConfig {
        llm: Some(llm.clone()),
        ..AgentsConfig::default()
    }
    .with_keyring(keyring());
    llm.api_key = None;
    config.tenant_defaults.llm = llm;
    let agent = Personalizer::from_config(&config)?.with_store((**db).clone(), "default");
    let mut lead = reachable_lead("lead-1");
    lead["plan"] = json!([{"step": 1, "day_offset": 0, "channel": "email", "framework": "pas", "purpose": "reopen"}]);
    let out = agent
        .run(
            &crate::common::ctx("personalize"),
            json!({"tenant": TENANT, "leads": [lead], "campaign": {"id": "camp-1",
                   "sender": {"name": "Sam", "company": "Rex Labs", "value_prop": "route every inbound lead in seconds"}}}),
        )
        .await?;
    assert_eq!(out["llm"], "live", "{out}");
    assert_eq!(out["sources"]["llm"], 1, "{out}");
    server.verify().await;
    Ok(())
}

async fn the_scraper_calls_hunter_with_the_tenants_key(db: &TestDb) -> anyhow::Result<()> {
    let tenant = create_tenant(db.conn(), TENANT, "Acme", t0()).await?.id;
    store_secret(db, tenant, "enrichment.hunter_api_key", "hunter-acme-own").await?;
    let server = MockServer::start().await;
    for (key, times) in [("hunter-acme-own", 1), ("hunter-operator", 0)] {
        Mock::given(method("GET"))
            .and(path("/v2/email-finder"))
            .and(header("x-api-key", key))
            .and(query_param("first_name", "Kim"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": {"first_name": "Kim", "last_name": "Doe", "email": "kim@acme.example", "score": 94,
                         "domain": "acme.example", "accept_all": false, "position": "VP Sales",
                         "sources": [], "verification": {"date": null, "status": "valid"}},
                "meta": {"params": {"first_name": "Kim", "last_name": "Doe", "domain": "acme.example"}}
            })))
            .expect(times)
            .mount(&server)
            .await;
    }
    let mut hunter = HunterConfig::new("hunter-operator");
    hunter.base_url = Url::parse(&server.uri())?;
    hunter.http = http();
    let mut config = AgentsConfig {
        hunter: Some(hunter.clone()),
        ..AgentsConfig::default()
    }
    .with_clock(crate::common::clock())
    .with_keyring(keyring());
    config.tenant_defaults.hunter = hunter;
    let agent = Scraper::from_config(&config)?.with_store((**db).clone(), "default");
    let mut lead = reachable_lead("lead-1");
    lead["first_name"] = json!("Kim");
    lead["last_name"] = json!("Doe");
    lead["email"] = serde_json::Value::Null;
    let out = agent
        .run(
            &crate::common::ctx("enrich"),
            json!({"tenant": TENANT, "budget": 10, "leads": [lead]}),
        )
        .await?;
    assert_eq!(out["spent"]["providers"]["hunter"], "live", "{out}");
    server.verify().await;
    Ok(())
}

async fn the_reply_classifier_calls_the_llm_with_the_tenants_key(
    db: &TestDb,
) -> anyhow::Result<()> {
    let store: Store = (**db).clone();
    let tenant = create_tenant(db.conn(), TENANT, "Acme", t0()).await?.id;
    store_secret(db, tenant, "llm.api_key", "sk-acme-own").await?;
    let server = MockServer::start().await;
    let interested =
        json!({"category": "interested", "confidence": 0.9, "reason": "asks for a call"});
    for (key, times) in [("sk-acme-own", 1), ("sk-operator", 0)] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", format!("Bearer {key}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": interested.to_string()}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5}
            })))
            .expect(times)
            .mount(&server)
            .await;
    }
    let mut llm = LlmConfig::new(Url::parse(&server.uri())?, "gpt-4o-mini");
    llm.api_key = Some(rex_adapters::Secret::new("sk-operator"));
    llm.http = http();
    let mut config = AgentsConfig {
        llm: Some(llm.clone()),
        ..AgentsConfig::default()
    }
    .with_keyring(keyring());
    llm.api_key = None;
    config.tenant_defaults.llm = llm;
    let engine = rex_engine::Engine::new(
        store.clone(),
        Arc::new(rex_broker::MemoryBroker::new(5)),
        rex_engine::Catalog::new(
            store.clone(),
            rex_core::validate::ValidateOptions::default(),
        ),
        Arc::new(rex_core::protocol::SystemClock),
    );
    let mut registry = rex_workers::Registry::new();
    rex_agents::register_with_engine(&mut registry, config, store, engine)?;
    let outreach = registry.select(&["outreach".to_owned()])?.remove(0);
    let out = outreach
        .run(
            &task("handle_event", "m-events", "handle", 1),
            json!({"tenant": TENANT, "source": "inbound_email", "event": {
                "kind": "reply", "id": "in-1", "lead_id": "lead-1", "address": "ana@acme.example",
                "text": "Sounds good, could we talk next week?", "at": "2026-12-01T15:00:00Z"}}),
        )
        .await?;
    assert_eq!(out["layer"], "llm", "{out}");
    server.verify().await;
    Ok(())
}

/// Collects the values recorded for `rex.credentials` on any span.
#[derive(Clone, Default)]
struct Credentials {
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl tracing::field::Visit for Credentials {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "rex.credentials" {
            self.seen.lock().unwrap().push(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Credentials {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        attrs.record(&mut self.clone());
    }

    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        values.record(&mut self.clone());
    }
}

#[tokio::test]
async fn the_action_span_says_whose_credentials_were_used() -> anyhow::Result<()> {
    let db = rex_store::testing::fresh_sqlite().await;
    let w = World::new(&db).await?;
    w.mailbox(&db, "ana@mail.rex.example", 100, 40).await?;
    let server = MockServer::start().await;
    accepts(&server, "SG.acme-own", 1).await;
    accepts(&server, SENDGRID_KEY, 1).await;
    let live = rex_agents::outreach::Outreach::from_config(
        (*db).clone(),
        &config(&w, &sendgrid(&server)),
    )?;
    let dry = rex_agents::outreach::Outreach::from_config(
        (*db).clone(),
        &config(&w, &Providers::default()),
    )?;
    let seen = Credentials::default();
    let _guard = {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_default(tracing_subscriber::registry().with(seen.clone()))
    };
    let send = |step: &str, id: &str| (task("send", "m1", step, 1), send_input(lead(id), "email"));
    let (ctx, input) = send("s1", "lead-1");
    live.run(&ctx, input).await?;
    let (ctx, input) = send("s2", "lead-2");
    dry.run(&ctx, input).await?;
    store_secret(&db, w.tenant, "sendgrid.api_key", "SG.acme-own").await?;
    let fresh = rex_agents::outreach::Outreach::from_config(
        (*db).clone(),
        &config(&w, &sendgrid(&server)),
    )?;
    let (ctx, input) = send("s3", "lead-3");
    fresh.run(&ctx, input).await?;
    assert_eq!(
        *seen.seen.lock().unwrap(),
        ["environment", "dry_run", "tenant"]
    );
    server.verify().await;
    db.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn clients_are_rebuilt_after_the_ttl_only_when_the_secrets_changed() -> anyhow::Result<()> {
    use rex_agents::credentials::{Source, TenantProviders};
    let db = rex_store::testing::fresh_sqlite().await;
    let tenant = create_tenant(db.conn(), TENANT, "Acme", t0()).await?.id;
    store_secret(&db, tenant, "sendgrid.api_key", "SG.acme-old").await?;
    let ttl = Duration::from_millis(100);
    let config = AgentsConfig::default()
        .with_keyring(keyring())
        .with_credentials_ttl(ttl);
    let providers = TenantProviders::from_config(&config)?.with_store((*db).clone());
    let first = providers.for_tenant(tenant).await?;
    assert_eq!(first.email.get().map(|(s, _)| s).ok(), Some(Source::Tenant));
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    let same = providers.for_tenant(tenant).await?;
    assert!(
        Arc::ptr_eq(&first, &same),
        "unchanged secrets keep their clients"
    );
    store_secret(&db, tenant, "sendgrid.api_key", "SG.acme-new").await?;
    assert!(
        Arc::ptr_eq(&first, &providers.for_tenant(tenant).await?),
        "remembered until the ttl ends"
    );
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    let changed = providers.for_tenant(tenant).await?;
    assert!(
        !Arc::ptr_eq(&first, &changed),
        "a changed secret builds new clients"
    );
    // a tenant without secrets shares the environment's clients
    let other = create_tenant(db.conn(), "globex", "Globex", t0()).await?.id;
    assert!(Arc::ptr_eq(
        &providers.for_tenant(other).await?,
        &providers.environment()
    ));
    db.cleanup().await;
    Ok(())
}
