//! Provider webhooks: signed SendGrid, Twilio and Calendly requests are taken once
//! (receipts, inbox messages); forged, tampered, replayed, unsigned and malformed ones
//! answer 400/401 and leave nothing behind; no bytes make a route answer 5xx.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::FutureExt;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use proptest::prelude::*;
use rex_adapters::Secret;
use rex_adapters::calendly::CalendlyWebhookVerifier;
use rex_api::{ApiConfig, EnvWebhookSecrets, InboxEvent};
use rex_broker::Destination;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::fixtures::{Resp, TestApi};

const PUBLIC_URL: &str = "https://rex.example.com";
const TWILIO_TOKEN: &str = "12345";
const CALENDLY_KEY: &str = "whsec-calendly-test-key";

pub(crate) fn signing_key(seed: u8) -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[31] = seed;
    bytes[0] = 0x11;
    SigningKey::from_slice(&bytes).expect("a valid scalar")
}

/// The base64 DER SubjectPublicKeyInfo SendGrid shows: the fixed P-256 header, then
/// the uncompressed point.
pub(crate) fn public_key(key: &SigningKey) -> String {
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").expect("hex");
    der.extend_from_slice(key.verifying_key().to_encoded_point(false).as_bytes());
    BASE64.encode(der)
}

/// SendGrid's headers for `body`, signed by `key` at `timestamp`.
pub(crate) fn sendgrid_headers(
    key: &SigningKey,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut signed = timestamp.to_string().into_bytes();
    signed.extend_from_slice(body);
    let signature: Signature = key.sign(&signed);
    vec![
        (
            "x-twilio-email-event-webhook-signature".into(),
            BASE64.encode(signature.to_der().as_bytes()),
        ),
        (
            "x-twilio-email-event-webhook-timestamp".into(),
            timestamp.to_string(),
        ),
    ]
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A test API that verifies webhooks with the keys above.
async fn webhook_api(mut api: TestApi) -> TestApi {
    let secrets = EnvWebhookSecrets::from_lookup(|name| match name {
        "SENDGRID_WEBHOOK_PUBLIC_KEY" => Some(public_key(&signing_key(1))),
        "TWILIO_AUTH_TOKEN" => Some(TWILIO_TOKEN.into()),
        "CALENDLY_WEBHOOK_SIGNING_KEY" => Some(CALENDLY_KEY.into()),
        _ => None,
    });
    api.state = api.state.clone().with_webhook_secrets(Arc::new(secrets));
    api.router = rex_api::router(api.state.clone());
    api
}

pub(crate) fn config() -> ApiConfig {
    ApiConfig {
        public_url: Some(PUBLIC_URL.into()),
        ..ApiConfig::default()
    }
}

pub(crate) async fn post(
    api: &TestApi,
    path: &str,
    content_type: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", content_type);
    for (name, value) in headers {
        req = req.header(name.as_str(), value.as_str());
    }
    api.send(req.body(Body::from(body.to_vec())).expect("a request"))
        .await
}

async fn receipts(api: &TestApi) -> i64 {
    let conn = api.state.store.conn();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM webhook_receipts",
        ))
        .await
        .expect("counting receipts")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// The inbox's messages, consumed and acked (at most `expected`, waiting up to 5 s for
/// them), then 300 ms of quiet to catch extra ones.
async fn drain_inbox(api: &TestApi, expected: usize) -> Vec<InboxEvent> {
    let mut consumer = api
        .broker
        .consume(Destination::Inbox, 100)
        .await
        .expect("consuming the inbox");
    let mut out = Vec::new();
    loop {
        let wait = if out.len() < expected {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(300)
        };
        match tokio::time::timeout(wait, consumer.next()).await {
            Ok(Some(delivery)) => {
                let event: InboxEvent =
                    serde_json::from_slice(&delivery.message.body).expect("an inbox event");
                assert_eq!(delivery.message.id, event.message_id());
                out.push(event);
                delivery.ack().await.expect("ack");
            }
            _ => break,
        }
    }
    consumer.close().await;
    out
}

pub(crate) fn sendgrid_batch() -> Vec<u8> {
    serde_json::to_vec(&json!([
        {"email": "lee@acme.example", "timestamp": 1_800_000_000, "event": "bounce",
         "type": "bounce", "reason": "550 5.1.1 user unknown", "sg_event_id": "ev-1",
         "sg_message_id": "X1.filter", "rex_message_id": "m-1"},
        {"email": "kim@acme.example", "timestamp": 1_800_000_001, "event": "delivered",
         "sg_event_id": "ev-2", "sg_message_id": "X2.filter"},
        {"email": "kim@acme.example", "timestamp": 1_800_000_001, "event": "delivered",
         "sg_event_id": "ev-2", "sg_message_id": "X2.filter"},
        {"event": "open"}
    ]))
    .expect("json")
}

async fn a_signed_sendgrid_batch_is_taken_once(api: &TestApi) {
    let body = sendgrid_batch();
    let headers = sendgrid_headers(&signing_key(1), now(), &body);
    let r = post(
        api,
        "/v1/webhooks/acme/sendgrid",
        "application/json",
        &headers,
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["accepted"], 2, "{r:?}");
    assert_eq!(r.body["duplicates"], 1, "{r:?}");
    assert_eq!(r.body["rejected"][0]["index"], 3, "{r:?}");
    assert_eq!(receipts(api).await, 2);

    // the same batch again (a provider retry): 200, nothing handed on twice
    let again = post(
        api,
        "/v1/webhooks/acme/sendgrid",
        "application/json",
        &headers,
        &body,
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["accepted"], 0, "{again:?}");
    assert_eq!(again.body["duplicates"], 3, "{again:?}");
    assert_eq!(receipts(api).await, 2);

    let mut inbox = drain_inbox(api, 2).await;
    inbox.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let ids: Vec<String> = inbox.iter().map(InboxEvent::message_id).collect();
    assert_eq!(ids, ["sendgrid:ev-1", "sendgrid:ev-2"]);
    assert_eq!(inbox[0].tenant, "acme");
    assert_eq!(inbox[0].event["email"], "lee@acme.example");
    assert_eq!(inbox[0].event["kind"]["type"], "bounce");

    // another tenant's receipts are its own
    let other = post(
        api,
        "/v1/webhooks/globex/sendgrid",
        "application/json",
        &headers,
        &body,
    )
    .await;
    assert_eq!(other.body["accepted"], 2, "{other:?}");
    assert_eq!(drain_inbox(api, 2).await.len(), 2);
}

#[tokio::test]
async fn a_signed_sendgrid_batch_is_taken_once_embedded() {
    let api = webhook_api(TestApi::embedded(config()).await).await;
    a_signed_sendgrid_batch_is_taken_once(&api).await;
    api.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_sendgrid_batch_is_taken_once_on_postgres_and_rabbitmq() {
    let api = webhook_api(TestApi::production(config()).await).await;
    let result = AssertUnwindSafe(a_signed_sendgrid_batch_is_taken_once(&api))
        .catch_unwind()
        .await;
    api.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Every refusal leaves no receipt and no inbox message.
async fn assert_refused(api: &TestApi, r: &Resp, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.code(), code, "{r:?}");
    assert!(r.body["message"].is_string(), "{r:?}");
    assert_eq!(receipts(api).await, 0, "a refused webhook stored a receipt");
    let stats = api.broker.queue_stats(&Destination::Inbox).await.unwrap();
    assert_eq!(stats.ready, 0, "a refused webhook was handed on");
}

#[tokio::test]
async fn forged_tampered_replayed_and_unsigned_sendgrid_requests_are_refused() {
    let api = webhook_api(TestApi::embedded(config()).await).await;
    let path = "/v1/webhooks/acme/sendgrid";
    let body = sendgrid_batch();
    let json = "application/json";

    // signed with another key (a forgery, or the wrong key configured)
    let forged = sendgrid_headers(&signing_key(2), now(), &body);
    let r = post(&api, path, json, &forged, &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // tampered: signed, then the body changed
    let headers = sendgrid_headers(&signing_key(1), now(), &body);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("bounce", "delivered");
    let r = post(&api, path, json, &headers, tampered.as_bytes()).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // replayed: a genuine signature from 10 minutes ago
    let old = sendgrid_headers(&signing_key(1), now() - 600, &body);
    let r = post(&api, path, json, &old, &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "stale_signature").await;

    // the timestamp changed under the signature
    let mut moved = headers.clone();
    moved[1].1 = (now() - 1).to_string();
    let r = post(&api, path, json, &moved, &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // unsigned, and half-signed
    let r = post(&api, path, json, &[], &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "missing_signature").await;
    assert_eq!(
        r.body["field"], "x-twilio-email-event-webhook-signature",
        "{r:?}"
    );
    let r = post(&api, path, json, &headers[..1], &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "missing_signature").await;

    // a signature that is not base64 DER
    let garbled = vec![
        (headers[0].0.clone(), "not a signature".to_owned()),
        headers[1].clone(),
    ];
    let r = post(&api, path, json, &garbled, &body).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "invalid_signature").await;

    // correctly signed, but not a JSON array
    for bad in [&b"{\"event\":\"open\"}"[..], b"not json", b""] {
        let signed = sendgrid_headers(&signing_key(1), now(), bad);
        let r = post(&api, path, json, &signed, bad).await;
        assert_refused(&api, &r, StatusCode::BAD_REQUEST, "malformed_body").await;
    }

    // a tenant with no key, and a slug no tenant can have
    let none = webhook_api_without_keys().await;
    let r = post(&none, path, json, &headers, &body).await;
    assert_refused(&none, &r, StatusCode::NOT_FOUND, "webhook_not_configured").await;
    none.cleanup().await;
    let r = post(&api, "/v1/webhooks/ACME!/sendgrid", json, &headers, &body).await;
    assert_refused(&api, &r, StatusCode::NOT_FOUND, "webhook_not_configured").await;
    api.cleanup().await;
}

async fn webhook_api_without_keys() -> TestApi {
    TestApi::embedded(config()).await
}

#[tokio::test]
async fn a_failed_hand_over_answers_503_and_forgets_the_receipts() {
    let api = webhook_api(TestApi::embedded(config()).await).await;
    api.broker.shutdown().await;
    let body = sendgrid_batch();
    let headers = sendgrid_headers(&signing_key(1), now(), &body);
    let r = post(
        &api,
        "/v1/webhooks/acme/sendgrid",
        "application/json",
        &headers,
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert_eq!(r.code(), "unavailable", "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        receipts(&api).await,
        0,
        "the receipts of unpublished events stayed"
    );
    api.cleanup().await;
}

fn form(params: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    (pairs, body.into_bytes())
}

fn twilio_header(url: &str, params: &[(String, String)]) -> Vec<(String, String)> {
    let signature = rex_adapters::twilio::sign(&Secret::new(TWILIO_TOKEN), url, params);
    vec![("x-twilio-signature".into(), signature)]
}

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn twilio_status_callbacks_and_inbound_texts_are_verified_against_the_public_url() {
    let api = webhook_api(TestApi::embedded(config()).await).await;
    let path = "/v1/webhooks/acme/twilio/status?rex_message_id=m-1";
    let (params, body) = form(&[
        ("MessageSid", "SM123"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "21610"),
        ("To", "+15005550006"),
        ("From", "+15005550001"),
    ]);
    let signed = twilio_header(&format!("{PUBLIC_URL}{path}"), &params);
    let r = post(&api, path, FORM, &signed, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["accepted"], 1, "{r:?}");
    let again = post(&api, path, FORM, &signed, &body).await;
    assert_eq!(again.body["duplicates"], 1, "{again:?}");

    // signed for the URL the server sees rather than the public one: refused
    let local = twilio_header(&format!("http://localhost{path}"), &params);
    let r = post(&api, path, FORM, &local, &body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    // a parameter added after signing
    let mut extra = body.clone();
    extra.extend_from_slice(b"&Price=0");
    let r = post(&api, path, FORM, &signed, &extra).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert_eq!(r.code(), "invalid_signature");

    let inbound = "/v1/webhooks/acme/twilio/inbound";
    let (params, body) = form(&[
        ("MessageSid", "SM999"),
        ("From", "+15005550006"),
        ("To", "+15005550001"),
        ("Body", "STOP"),
    ]);
    let signed = twilio_header(&format!("{PUBLIC_URL}{inbound}"), &params);
    let r = post(&api, inbound, FORM, &signed, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/xml")
    );

    // signed, but no From: 400 naming it
    let (params, body) = form(&[("MessageSid", "SM1000"), ("To", "+15005550001")]);
    let signed = twilio_header(&format!("{PUBLIC_URL}{inbound}"), &params);
    let r = post(&api, inbound, FORM, &signed, &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert_eq!(r.body["field"], "From", "{r:?}");
    let r = post(&api, inbound, FORM, &[], &body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");

    let mut inbox = drain_inbox(&api, 2).await;
    inbox.sort_by(|a, b| a.source.cmp(&b.source));
    let ids: Vec<String> = inbox.iter().map(InboxEvent::message_id).collect();
    assert_eq!(ids, ["inbound_sms:SM999", "twilio:SM123:undelivered"]);
    assert_eq!(inbox[0].event["keyword"], "stop");
    assert_eq!(inbox[1].event["message_id"], "m-1");
    assert_eq!(receipts(&api).await, 2);
    api.cleanup().await;
}

const CALENDLY_BODY: &str = r#"{"created_at":"2027-01-15T08:00:00.000000Z","event":"invitee.created","payload":{"email":"lee@acme.example","name":"Lee Doe","rescheduled":false,"tracking":{"utm_content":"lead-42"},"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","scheduled_event":{"uri":"https://api.calendly.com/scheduled_events/E1","start_time":"2027-01-20T09:00:00.000000Z","end_time":"2027-01-20T09:30:00.000000Z"}}}"#;

#[tokio::test]
async fn calendly_bookings_are_taken_and_stale_ones_refused() {
    let api = webhook_api(TestApi::embedded(config()).await).await;
    let path = "/v1/webhooks/acme/calendly";
    let verifier = CalendlyWebhookVerifier::new(CALENDLY_KEY);
    let json = "application/json";
    let header = |t: i64, body: &[u8]| {
        vec![(
            "calendly-webhook-signature".to_owned(),
            verifier.sign(t, body),
        )]
    };

    let stale = header(now() - 600, CALENDLY_BODY.as_bytes());
    let r = post(&api, path, json, &stale, CALENDLY_BODY.as_bytes()).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "stale_signature").await;
    let r = post(&api, path, json, &[], CALENDLY_BODY.as_bytes()).await;
    assert_refused(&api, &r, StatusCode::UNAUTHORIZED, "missing_signature").await;
    let bad = br#"{"event":"invitee.created"}"#;
    let r = post(&api, path, json, &header(now(), bad), bad).await;
    assert_refused(&api, &r, StatusCode::BAD_REQUEST, "malformed_body").await;

    let signed = header(now(), CALENDLY_BODY.as_bytes());
    let r = post(&api, path, json, &signed, CALENDLY_BODY.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["accepted"], 1, "{r:?}");
    let inbox = drain_inbox(&api, 1).await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        inbox[0].message_id(),
        "calendly:invitee.created:https://api.calendly.com/scheduled_events/E1/invitees/I1"
    );
    assert_eq!(inbox[0].event["tracking"], "lead-42");
    api.cleanup().await;
}

const ROUTES: [&str; 4] = [
    "/v1/webhooks/acme/sendgrid",
    "/v1/webhooks/acme/twilio/status",
    "/v1/webhooks/acme/twilio/inbound",
    "/v1/webhooks/acme/calendly",
];

const SIGNATURE_HEADERS: [&str; 4] = [
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "x-twilio-signature",
    "calendly-webhook-signature",
];

#[test]
fn no_bytes_make_a_webhook_route_answer_5xx() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let api = rt.block_on(async { webhook_api(TestApi::embedded(config()).await).await });
    let config = ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        route in 0..ROUTES.len(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
        values in proptest::collection::vec("[ -~]{0,120}", 4),
        present in proptest::collection::vec(any::<bool>(), 4),
        content_type in prop_oneof![Just("application/json"), Just(FORM), Just("text/plain")],
    )| {
        let headers: Vec<(String, String)> = SIGNATURE_HEADERS
            .iter()
            .zip(&values)
            .zip(&present)
            .filter(|(_, p)| **p)
            .map(|((h, v), _)| ((*h).to_owned(), v.clone()))
            .collect();
        let r = rt.block_on(post(&api, ROUTES[route], content_type, &headers, &body));
        prop_assert!(!r.status.is_server_error(), "{r:?}");
        prop_assert!(r.status.is_client_error(), "unsigned bytes were taken: {r:?}");
        prop_assert!(r.body["code"].is_string(), "{r:?}");
    });
    rt.block_on(api.cleanup());
}
