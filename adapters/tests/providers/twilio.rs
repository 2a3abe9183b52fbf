//! Twilio `Messages.json` against a local server speaking its API.

use crate::fixtures::{base_url, form_is, http, received, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use base64::Engine;
use rex_adapters::http::HttpConfig;
use rex_adapters::twilio::{SenderId, TwilioClient, TwilioConfig};
use rex_adapters::{OutboundSms, ProviderError, SmsSender, UsageSink};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-xyz";

fn client(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> TwilioClient {
    let mut config = TwilioConfig::new(SID, TOKEN, SenderId::Number("+14155550100".into()));
    config.base_url = base_url(server);
    config.status_callback =
        Some(url::Url::parse("https://rex.example/hooks/twilio/status").unwrap());
    config.http = http;
    TwilioClient::new(config, usage).unwrap()
}

fn sms() -> OutboundSms {
    OutboundSms {
        message_id: "sms-7".into(),
        to: "+14155550123".into(),
        body: "Hi Lee, still interested? Reply STOP to opt out.".into(),
    }
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    )
}

fn send_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(header("authorization", basic().as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form_is(&[
            ("To", "+14155550123"),
            ("From", "+14155550100"),
            ("Body", "Hi Lee, still interested? Reply STOP to opt out."),
            (
                "StatusCallback",
                "https://rex.example/hooks/twilio/status?rex_message_id=sms-7",
            ),
        ]))
}

fn twilio_error(status: u16, code: u32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

struct Send;

#[async_trait]
impl Scenario for Send {
    fn expected(&self) -> MockBuilder {
        send_request()
    }
    fn success(&self) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "account_sid": SID,
            "api_version": "2010-04-01",
            "body": "Hi Lee, still interested? Reply STOP to opt out.",
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": "+14155550100",
            "messaging_service_sid": null,
            "num_media": "0",
            "num_segments": "1",
            "price": null,
            "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
            "status": "queued",
            "to": "+14155550123",
            "uri": format!("/2010-04-01/Accounts/{SID}/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json")
        }))
    }
    fn bad_request(&self) -> ResponseTemplate {
        twilio_error(400, 21211, "Invalid 'To' Phone Number: +14155550123")
    }
    fn bad_request_says(&self) -> &'static str {
        "Invalid 'To' Phone Number"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        twilio_error(401, 20003, "Authenticate")
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413)
            .insert_header("content-type", "text/html")
            .set_body_string("<html><body><h1>413 Request Entity Too Large</h1></body></html>")
    }
    fn rate_limited(&self) -> ResponseTemplate {
        twilio_error(429, 20429, "Too Many Requests").insert_header("Retry-After", "1")
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
        client(server, http, usage).send(&sms()).await.map(|_| ())
    }
}

mod send {
    crate::response_matrix!(super::Send);
}

#[tokio::test]
async fn a_send_returns_the_message_sid_and_counts_segments() {
    let server = MockServer::start().await;
    send_request()
        .respond_with(Send.success())
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let receipt = client(&server, http(), sink).send(&sms()).await.unwrap();
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("SM1f0e8ae6ade43cb3c0ce4525424e404f")
    );
    assert_eq!(receipt.status.as_deref(), Some("queued"));
    assert_eq!(receipt.segments.segments, 1);
    assert!(!receipt.is_dry_run());
    assert_eq!(log.records()[0].cost.sms_segments, 1);
}

#[tokio::test]
async fn error_21610_means_suppress_the_number_and_never_retry() {
    let server = MockServer::start().await;
    send_request()
        .respond_with(twilio_error(
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, http(), usage().1)
        .send(&sms())
        .await
        .unwrap_err();
    assert!(err.suppresses_recipient(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("21610"));
}

#[tokio::test]
async fn a_number_that_is_not_e164_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let mut bad = sms();
    bad.to = "(415) 555-0123".into();
    let err = client(&server, http(), usage().1)
        .send(&bad)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
    assert!(received(&server).await.is_empty());
}
