//! Credentials never show in errors, Debug output or logs, even when a
//! provider echoes them back.

use crate::fixtures::{base_url, http, usage};
use rex_adapters::enrichment::{EnrichmentProvider, HunterClient, HunterConfig};
use rex_adapters::sendgrid::{SendGridClient, SendGridConfig};
use rex_adapters::twilio::{SenderId, TwilioClient, TwilioConfig};
use rex_adapters::{EmailSender, OutboundSms, SmsSender};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn echoed_keys_are_scrubbed_from_errors_debug_output_and_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    const SG_KEY: &str = "SG.live-key-never-print-me";
    const TW_TOKEN: &str = "twilio-token-never-print-me";
    const HUNTER_KEY: &str = "hunter-key-never-print-me";
    let server = MockServer::start().await;
    // A provider that echoes whatever credential it got.
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "message": format!("bad key {SG_KEY} / {HUNTER_KEY}"), "field": null, "id": HUNTER_KEY, "details": format!("key {HUNTER_KEY}") }],
            "code": 20003,
            "message": format!("token {TW_TOKEN} rejected")
        })))
        .mount(&server)
        .await;
    // And one that answers 400 with the same echo (a message we do show).
    let echo_400 = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "message": format!("bad key {SG_KEY}"), "field": "api_key", "id": HUNTER_KEY, "details": format!("key {HUNTER_KEY}") }],
            "code": 21211,
            "message": format!("token {TW_TOKEN} rejected")
        })))
        .mount(&echo_400)
        .await;

    let mut shown = String::new();
    for target in [&server, &echo_400] {
        let mut sg = SendGridConfig::new(SG_KEY);
        sg.base_url = base_url(target);
        sg.http = http();
        shown.push_str(&format!("{sg:?}"));
        let sg = SendGridClient::new(sg, usage().1).unwrap();
        shown.push_str(&format!("{sg:?}"));
        let e = sg.send(&crate::sendgrid::email()).await.unwrap_err();
        shown.push_str(&format!("{e} {e:?}"));

        let mut tw = TwilioConfig::new(
            "AC0123456789abcdef0123456789abcdef",
            TW_TOKEN,
            SenderId::Number("+14155550100".into()),
        );
        tw.base_url = base_url(target);
        tw.http = http();
        shown.push_str(&format!("{tw:?}"));
        let tw = TwilioClient::new(tw, usage().1).unwrap();
        let sms = OutboundSms {
            message_id: "m".into(),
            to: "+14155550123".into(),
            body: "hi".into(),
        };
        let e = tw.send(&sms).await.unwrap_err();
        shown.push_str(&format!("{e} {e:?}"));

        let mut hu = HunterConfig::new(HUNTER_KEY);
        hu.base_url = base_url(target);
        hu.http = http();
        let hu = HunterClient::new(hu, usage().1).unwrap();
        let e = hu.lookup(&crate::hunter::query()).await.unwrap_err();
        shown.push_str(&format!("{e} {e:?}"));
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("provider_call"),
        "logs were not captured: {logs}"
    );
    assert!(
        shown.contains("[redacted]"),
        "the 400 message should still be shown, scrubbed: {shown}"
    );
    for secret in [SG_KEY, TW_TOKEN, HUNTER_KEY] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
        assert!(!logs.contains(secret), "{secret} logged: {logs}");
    }
}
