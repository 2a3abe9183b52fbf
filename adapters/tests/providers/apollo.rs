//! Apollo people match against a local server.

use crate::fixtures::{base_url, http, received, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use rex_adapters::enrichment::{ApolloClient, ApolloConfig, EnrichmentProvider, PersonQuery};
use rex_adapters::http::HttpConfig;
use rex_adapters::{Credits, Provider, ProviderError, UsageSink};
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const KEY: &str = "apollo-key-abcdef123456";

pub fn client(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> ApolloClient {
    let mut config = ApolloConfig::new(KEY);
    config.base_url = base_url(server);
    config.http = http;
    ApolloClient::new(config, usage).unwrap()
}

fn query() -> PersonQuery {
    PersonQuery {
        first_name: Some("Lee".into()),
        last_name: Some("Doe".into()),
        domain: Some("acme.com".into()),
        ..PersonQuery::default()
    }
}

pub fn match_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/api/v1/people/match"))
        .and(header("x-api-key", KEY))
        .and(body_partial_json(json!({
            "first_name": "Lee",
            "last_name": "Doe",
            "domain": "acme.com",
            "reveal_personal_emails": false
        })))
}

pub fn person(email: Option<&str>, phones: Value) -> Value {
    json!({
        "id": "64a7ff0cc4dfae00013df1a5",
        "first_name": "Lee",
        "last_name": "Doe",
        "name": "Lee Doe",
        "linkedin_url": "http://www.linkedin.com/in/lee-doe",
        "title": "Head of Revenue",
        "email_status": email.map(|_| "verified"),
        "email": email,
        "organization": { "id": "5e66b6381e05b4008c8331b8", "name": "Acme", "primary_domain": "acme.com" },
        "phone_numbers": phones
    })
}

fn apollo_error(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

struct Match;

#[async_trait]
impl Scenario for Match {
    fn expected(&self) -> MockBuilder {
        match_request()
    }
    fn success(&self) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .set_body_json(json!({ "person": person(Some("lee.doe@acme.com"), json!([])) }))
    }
    fn bad_request(&self) -> ResponseTemplate {
        apollo_error(
            400,
            json!({ "error": "Invalid parameters: domain is malformed", "error_code": "INVALID_PARAMETERS" }),
        )
    }
    fn bad_request_says(&self) -> &'static str {
        "domain is malformed"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        apollo_error(
            401,
            json!({ "error": "Invalid access credentials.", "error_code": "INVALID_API_KEY" }),
        )
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413).set_body_string("<html>413 Request Entity Too Large</html>")
    }
    fn rate_limited(&self) -> ResponseTemplate {
        apollo_error(429, json!({ "message": "The maximum number of api calls allowed for api/v1/people/match is 200 times per minute. Please upgrade your plan." }))
            .insert_header("x-rate-limit-minute", "200")
            .insert_header("x-minute-requests-left", "0")
            .insert_header("retry-after", "1")
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        server: &MockServer,
        http: HttpConfig,
        usage: Arc<dyn UsageSink>,
    ) -> Result<(), ProviderError> {
        client(server, http, usage)
            .lookup(&query())
            .await
            .map(|_| ())
    }
}

mod people_match {
    crate::response_matrix!(super::Match);
}

#[tokio::test]
async fn a_match_costs_one_credit_a_mobile_number_eight_more_and_no_match_nothing() {
    let server = MockServer::start().await;
    match_request()
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "person": person(Some("lee.doe@acme.com"), json!([])) })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    match_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "person": person(None, json!([{ "raw_number": "+1 415-555-0123", "sanitized_number": "+14155550123", "type": "mobile" }]))
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    match_request()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "person": null })))
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let apollo = client(&server, http(), sink);
    let first = apollo.lookup(&query()).await.unwrap();
    assert_eq!(first.cost, Credits::whole(1));
    let email = first.contact.email.unwrap();
    assert_eq!(
        (email.value.as_str(), email.source),
        ("lee.doe@acme.com", Provider::Apollo)
    );
    assert_eq!(first.contact.company_domain.unwrap().value, "acme.com");
    let second = apollo.lookup(&query()).await.unwrap();
    assert_eq!(second.cost, Credits::whole(9));
    assert_eq!(second.contact.phone.unwrap().value, "+14155550123");
    let third = apollo.lookup(&query()).await.unwrap();
    assert!(third.contact.is_empty());
    assert_eq!(third.cost, Credits::ZERO);
    assert_eq!(log.total(Provider::Apollo).credits, Credits::whole(10));
}

#[tokio::test]
async fn bulk_matches_go_ten_at_a_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/people/bulk_match"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "success",
            "error_code": null,
            "credits_consumed": 1,
            "matches": [person(Some("lee.doe@acme.com"), json!([])), null]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let queries = vec![query(); 12];
    let lookups = client(&server, http(), usage().1)
        .bulk_lookup(&queries)
        .await
        .unwrap();
    assert_eq!(lookups.len(), 12);
    assert!(lookups[0].contact.email.is_some());
    assert!(lookups[1].contact.is_empty());
    let sizes: Vec<usize> = received(&server)
        .await
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["details"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![10, 2]);
}
