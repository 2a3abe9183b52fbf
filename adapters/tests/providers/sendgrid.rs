//! SendGrid `POST /v3/mail/send` against a local server speaking its API.

use crate::fixtures::{base_url, http, received, reset_in, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use rex_adapters::email::{BatchRecipient, EmailBatch, Mailbox, Unsubscribe};
use rex_adapters::http::HttpConfig;
use rex_adapters::sendgrid::{SendGridClient, SendGridConfig};
use rex_adapters::{EmailSender, OutboundEmail, ProviderError, UsageSink};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const KEY: &str = "SG.test-key-0123456789";

pub fn client(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> SendGridClient {
    let mut config = SendGridConfig::new(KEY);
    config.base_url = base_url(server);
    config.http = http;
    SendGridClient::new(config, usage).unwrap()
}

pub fn email() -> OutboundEmail {
    OutboundEmail {
        message_id: "msg-42".into(),
        from: Mailbox::named("ana@mail.rex.example", "Ana"),
        reply_to: Some(Mailbox::new("replies@rex.example")),
        to: Mailbox::named("lee@acme.example", "Lee Doe"),
        subject: "A quick question".into(),
        text: "Hi Lee".into(),
        html: Some("<p>Hi Lee</p>".into()),
        unsubscribe: Unsubscribe::one_click("https://rex.example/u/msg-42"),
        send_at: None,
        categories: vec!["reactivation".into()],
    }
}

fn send_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "from": { "email": "ana@mail.rex.example", "name": "Ana" },
            "subject": "A quick question",
            "personalizations": [{
                "to": [{ "email": "lee@acme.example", "name": "Lee Doe" }],
                "custom_args": { "rex_message_id": "msg-42" },
                "headers": {
                    "List-Unsubscribe": "<https://rex.example/u/msg-42>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
                }
            }]
        })))
}

struct Send;

#[async_trait]
impl Scenario for Send {
    fn expected(&self) -> MockBuilder {
        send_request()
    }
    fn success(&self) -> ResponseTemplate {
        ResponseTemplate::new(202).insert_header("X-Message-Id", "W6A2dXlQQ5aNYl7Mgmr2cw")
    }
    fn bad_request(&self) -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(json!({
            "errors": [
                { "message": "The from address does not match a verified Sender Identity.", "field": "from", "help": null },
                { "message": "Invalid type. Expected: integer, given: string.", "field": "personalizations.0.send_at", "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.send_at" }
            ]
        }))
    }
    fn bad_request_says(&self) -> &'static str {
        "from: The from address does not match a verified Sender Identity"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "field": null, "message": "The provided authorization grant is invalid, expired, or revoked" }]
        }))
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413).set_body_json(json!({
            "errors": [{ "field": null, "message": "Payload Too Large" }]
        }))
    }
    fn rate_limited(&self) -> ResponseTemplate {
        ResponseTemplate::new(429)
            .insert_header("X-RateLimit-Limit", "600")
            .insert_header("X-RateLimit-Remaining", "0")
            .insert_header("X-RateLimit-Reset", reset_in(2).as_str())
            .set_body_json(json!({ "errors": [{ "field": null, "message": "too many requests" }] }))
    }
    fn idempotent(&self) -> bool {
        false
    }
    async fn call(
        &self,
        server: &MockServer,
        http: HttpConfig,
        usage: Arc<dyn UsageSink>,
    ) -> Result<(), ProviderError> {
        client(server, http, usage).send(&email()).await.map(|_| ())
    }
}

mod send {
    crate::response_matrix!(super::Send);
}

#[tokio::test]
async fn a_send_keeps_x_message_id_and_counts_one_email() {
    let server = MockServer::start().await;
    send_request()
        .respond_with(Send.success())
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let receipt = client(&server, http(), sink).send(&email()).await.unwrap();
    assert!(!receipt.is_dry_run());
    assert_eq!(receipt.message_id, "msg-42");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("W6A2dXlQQ5aNYl7Mgmr2cw")
    );
    assert_eq!(log.records()[0].cost.emails, 1);
}

#[tokio::test]
async fn the_400_error_list_reaches_the_caller_field_by_field() {
    let server = MockServer::start().await;
    send_request()
        .respond_with(Send.bad_request())
        .mount(&server)
        .await;
    let err = client(&server, http(), usage().1)
        .send(&email())
        .await
        .unwrap_err();
    let ProviderError::Rejected { fields, .. } = err else {
        panic!("expected a rejection, got {err:?}")
    };
    assert_eq!(fields.len(), 2);
    assert_eq!(
        fields[1].field.as_deref(),
        Some("personalizations.0.send_at")
    );
}

#[tokio::test]
async fn send_at_travels_as_a_unix_time() {
    let server = MockServer::start().await;
    let at = chrono::Utc::now() + chrono::Duration::hours(24);
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(body_partial_json(
            json!({ "personalizations": [{ "send_at": at.timestamp() }] }),
        ))
        .respond_with(Send.success())
        .expect(1)
        .mount(&server)
        .await;
    let mut scheduled = email();
    scheduled.send_at = Some(at);
    client(&server, http(), usage().1)
        .send(&scheduled)
        .await
        .unwrap();
}

fn batch(n: usize) -> EmailBatch {
    EmailBatch {
        from: Mailbox::new("ana@mail.rex.example"),
        reply_to: None,
        subject: "Hello -first-".into(),
        text: "Hi -first-".into(),
        html: None,
        categories: vec![],
        recipients: (0..n)
            .map(|i| BatchRecipient {
                message_id: format!("m{i}"),
                to: Mailbox::new(format!("lead{i}@acme.example")),
                unsubscribe: Unsubscribe::one_click(format!("https://rex.example/u/m{i}")),
                substitutions: BTreeMap::from([("-first-".into(), format!("L{i}"))]),
                send_at: None,
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_batch_above_one_thousand_is_split_into_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "batch-id"))
        .expect(3)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let outcome = client(&server, http(), sink)
        .send_batch(&batch(2001))
        .await
        .unwrap();
    assert!(outcome.failed.is_none());
    assert_eq!(outcome.receipts.len(), 2001);
    assert_eq!(outcome.receipts[2000].message_id, "m2000");
    let sizes: Vec<usize> = received(&server)
        .await
        .iter()
        .map(|r| {
            r.body_json::<serde_json::Value>().unwrap()["personalizations"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 1]);
    assert_eq!(log.total(rex_adapters::Provider::SendGrid).emails, 2001);
}

#[tokio::test]
async fn a_batch_failing_part_way_reports_who_was_not_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "first"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(Send.bad_request())
        .mount(&server)
        .await;
    let outcome = client(&server, http(), usage().1)
        .send_batch(&batch(1500))
        .await
        .unwrap();
    assert_eq!(outcome.receipts.len(), 1000);
    let failed = outcome.failed.unwrap();
    assert_eq!(failed.message_ids.len(), 500);
    assert_eq!(failed.message_ids[0], "m1000");
    assert_eq!(failed.error.status(), Some(400));
}

#[tokio::test]
async fn an_invalid_email_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let mut bad = email();
    bad.unsubscribe = Unsubscribe::one_click("mailto:unsub@rex.example");
    let err = client(&server, http(), usage().1)
        .send(&bad)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert!(received(&server).await.is_empty());
}
