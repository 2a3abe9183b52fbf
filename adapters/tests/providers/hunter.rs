//! Hunter email finder and verifier against a local server.

use crate::fixtures::{base_url, http, received, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use rex_adapters::enrichment::{
    EmailStatus, EmailVerifier, EnrichmentProvider, HunterClient, HunterConfig, PersonQuery,
};
use rex_adapters::http::HttpConfig;
use rex_adapters::{Credits, Provider, ProviderError, UsageSink};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

pub const KEY: &str = "hunter-key-1234567890";

pub fn client(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> HunterClient {
    let mut config = HunterConfig::new(KEY);
    config.base_url = base_url(server);
    config.http = http;
    HunterClient::new(config, usage).unwrap()
}

pub fn query() -> PersonQuery {
    PersonQuery {
        first_name: Some("Lee".into()),
        last_name: Some("Doe".into()),
        domain: Some("acme.com".into()),
        ..PersonQuery::default()
    }
}

pub fn finder_request() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/v2/email-finder"))
        .and(header("x-api-key", KEY))
        .and(query_param("domain", "acme.com"))
        .and(query_param("first_name", "Lee"))
        .and(query_param("last_name", "Doe"))
        .and(query_param_is_missing("api_key"))
}

pub fn verifier_request() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/v2/email-verifier"))
        .and(header("x-api-key", KEY))
        .and(query_param("email", "lee@acme.com"))
}

fn hunter_error(status: u16, id: &str, details: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "errors": [{ "id": id, "code": status, "details": details }]
    }))
}

pub fn found(email: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": {
            "first_name": "Lee",
            "last_name": "Doe",
            "email": email,
            "score": email.map(|_| 94),
            "domain": "acme.com",
            "accept_all": false,
            "position": "VP Sales",
            "twitter": null,
            "linkedin_url": null,
            "phone_number": null,
            "company": "Acme",
            "sources": [],
            "verification": { "date": null, "status": null }
        },
        "meta": { "params": { "first_name": "Lee", "last_name": "Doe", "domain": "acme.com" } }
    }))
}

pub fn verified(status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": {
            "status": status,
            "result": "deliverable",
            "score": 91,
            "email": "lee@acme.com",
            "regexp": true, "gibberish": false, "disposable": false, "webmail": false,
            "mx_records": true, "smtp_server": true, "smtp_check": true,
            "accept_all": false, "block": false, "sources": []
        },
        "meta": { "params": { "email": "lee@acme.com" } }
    }))
}

struct Find;

#[async_trait]
impl Scenario for Find {
    fn expected(&self) -> MockBuilder {
        finder_request()
    }
    fn success(&self) -> ResponseTemplate {
        found(Some("lee@acme.com"))
    }
    fn bad_request(&self) -> ResponseTemplate {
        hunter_error(400, "wrong_params", "You are missing the domain parameter")
    }
    fn bad_request_says(&self) -> &'static str {
        "code wrong_params): You are missing the domain parameter"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        hunter_error(
            401,
            "authentication_failed",
            "No user found for the API key supplied",
        )
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413).set_body_string("413 Request Entity Too Large")
    }
    /// Hunter signals its per-second limit with 403.
    fn rate_limited(&self) -> ResponseTemplate {
        hunter_error(403, "too_many_requests", "You have reached the rate limit")
            .insert_header("Retry-After", "1")
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

mod email_finder {
    crate::response_matrix!(super::Find);
}

#[tokio::test]
async fn a_found_email_costs_one_credit_and_carries_its_provenance() {
    let server = MockServer::start().await;
    finder_request()
        .respond_with(found(Some("lee@acme.com")))
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let lookup = client(&server, http(), sink)
        .lookup(&query())
        .await
        .unwrap();
    let email = lookup.contact.email.unwrap();
    assert_eq!(
        (email.value.as_str(), email.source),
        ("lee@acme.com", Provider::Hunter)
    );
    assert_eq!(lookup.contact.title.unwrap().value, "VP Sales");
    assert_eq!(lookup.cost, Credits::whole(1));
    assert_eq!(log.total(Provider::Hunter).credits, Credits::whole(1));
}

#[tokio::test]
async fn nothing_found_costs_nothing() {
    let server = MockServer::start().await;
    finder_request()
        .respond_with(found(None))
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let lookup = client(&server, http(), sink)
        .lookup(&query())
        .await
        .unwrap();
    assert!(lookup.contact.is_empty());
    assert_eq!(lookup.cost, Credits::ZERO);
    assert_eq!(log.total(Provider::Hunter).credits, Credits::ZERO);
}

#[tokio::test]
async fn a_used_up_monthly_quota_is_not_retried() {
    let server = MockServer::start().await;
    finder_request()
        .respond_with(hunter_error(
            429,
            "too_many_requests",
            "You have used all your monthly requests",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, http(), usage().1)
        .lookup(&query())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::QuotaExhausted { status: 429, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_verification_still_running_is_asked_again() {
    let server = MockServer::start().await;
    verifier_request()
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({ "data": null })))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    verifier_request()
        .respond_with(verified("valid"))
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let verification = client(&server, http(), sink)
        .verify("lee@acme.com")
        .await
        .unwrap();
    assert_eq!(verification.status.value, EmailStatus::Valid);
    assert_eq!(verification.score, Some(91));
    assert_eq!(log.records()[0].attempts, 3);
    assert_eq!(log.records()[0].cost.credits, Credits::from_millis(500));
}

#[tokio::test]
async fn a_verification_that_stays_pending_is_handed_back_as_retryable() {
    let server = MockServer::start().await;
    verifier_request()
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({ "data": null })))
        .mount(&server)
        .await;
    let err = client(&server, http(), usage().1)
        .verify("lee@acme.com")
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Pending { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(received(&server).await.len(), 4);
}

#[tokio::test]
async fn catch_all_domains_come_back_as_accept_all() {
    let server = MockServer::start().await;
    verifier_request()
        .respond_with(verified("accept_all"))
        .mount(&server)
        .await;
    let v = client(&server, http(), usage().1)
        .verify("lee@acme.com")
        .await
        .unwrap();
    assert_eq!(v.status.value, EmailStatus::AcceptAll);
    assert!(!v.status.value.is_sendable());
}
