//! `/v1/secrets`: stored encrypted, listed by name, deleted; the value never comes
//! back in a response nor reaches a log line.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use rex_api::ApiConfig;
use rex_domain_store::keyring::Keyring;
use rex_domain_store::{get_secret, tenant_by_slug};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::fixtures::TestApi;

pub const VALUE: &str = "SG.very-secret-value-4f1c9e";

/// The API with secret storage enabled under a fresh key.
pub fn with_secrets(api: &mut TestApi) -> Keyring {
    let keyring = Keyring::ephemeral_dev();
    api.state = api.state.clone().with_keyring(keyring.clone());
    api.router = rex_api::router(api.state.clone());
    keyring
}

async fn stored_listed_deleted(mut api: TestApi) {
    let keyring = with_secrets(&mut api);
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());
    let path = "/v1/secrets/sendgrid.api_key";
    let r = api
        .call("PUT", path, Some(&a), Some(json!({"value": "SG.first"})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = api
        .call("PUT", path, Some(&a), Some(json!({"value": VALUE})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert!(!r.body.to_string().contains(VALUE));

    let r = api.call("GET", "/v1/secrets", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{r:?}");
    assert_eq!(r.body["items"][0]["name"], json!("sendgrid.api_key"));
    assert_eq!(r.body["items"][0]["key_id"], json!("dev-ephemeral"));
    assert!(r.body["items"][0].get("value").is_none());
    assert!(!r.body.to_string().contains(VALUE));
    assert!(!r.body.to_string().contains("SG.first"));
    // what the agents would read: the latest value, opened
    let c = api.db.store().conn();
    let acme = tenant_by_slug(c, "acme").await.unwrap().unwrap();
    let opened = get_secret(c, &keyring, acme.id, "sendgrid.api_key")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(opened.expose(), VALUE);

    // another tenant sees none of it and cannot delete it
    let r = api.call("GET", "/v1/secrets", Some(&b), None).await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    let r = api.call("DELETE", path, Some(&b), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");

    // refusals: unknown name, empty value, unknown field, wrong type, other scopes
    let r = api
        .call(
            "PUT",
            "/v1/secrets/smtp.password",
            Some(&a),
            Some(json!({"value": VALUE})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::NOT_FOUND, json!("name"))
    );
    let r = api
        .call("PUT", path, Some(&a), Some(json!({"value": " "})))
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("value")),
        "{r:?}"
    );
    let r = api
        .call(
            "PUT",
            path,
            Some(&a),
            Some(json!({"value": VALUE, "note": VALUE})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert!(!r.body.to_string().contains(VALUE), "{r:?}");
    let r = api
        .call("PUT", path, Some(&a), Some(json!({"value": 42})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    for key in [&api.keys.reader, &api.keys.writer] {
        for (method, p, body) in [
            ("PUT", path, Some(json!({"value": VALUE}))),
            ("GET", "/v1/secrets", None),
            ("DELETE", path, None),
        ] {
            let r = api.call(method, p, Some(key), body).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {p}"
            );
        }
    }

    let r = api.call("DELETE", path, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = api.call("DELETE", path, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = api.call("GET", "/v1/secrets", Some(&a), None).await;
    assert_eq!(r.body["items"], json!([]));
    api.cleanup().await;
}

#[tokio::test]
async fn secrets_are_stored_listed_and_deleted_never_returned() {
    stored_listed_deleted(TestApi::embedded(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn secrets_are_stored_listed_and_deleted_on_postgres() {
    stored_listed_deleted(TestApi::on_postgres(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn without_keys_secret_storage_answers_503() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = api
        .call(
            "PUT",
            "/v1/secrets/llm.api_key",
            Some(&api.keys.a),
            Some(json!({"value": VALUE})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "secrets_disabled"),
        "{r:?}"
    );
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("REX_SECRETS_KEYS")
    );
    // listing needs no key
    let r = api
        .call("GET", "/v1/secrets", Some(&api.keys.a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    api.cleanup().await;
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_value_nor_key_reaches_a_log_line_even_at_trace_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut api = TestApi::embedded(ApiConfig::default()).await;
    let keyring = with_secrets(&mut api);
    let a = api.keys.a.clone();
    let path = "/v1/secrets/twilio.auth_token";
    for body in [
        json!({"value": VALUE}),
        json!({"value": VALUE, "extra": VALUE}),
        json!({"valeu": VALUE}),
        json!({"value": [VALUE]}),
    ] {
        api.call("PUT", path, Some(&a), Some(body)).await;
    }
    api.call(
        "PUT",
        "/v1/secrets/nope",
        Some(&a),
        Some(json!({"value": VALUE})),
    )
    .await;
    api.call(
        "PUT",
        path,
        Some(&api.keys.reader),
        Some(json!({"value": VALUE})),
    )
    .await;
    api.call("GET", "/v1/secrets", Some(&a), None).await;
    // the store's own calls, as an agent would make them
    let c = api.db.store().conn();
    let acme = tenant_by_slug(c, "acme").await.unwrap().unwrap();
    let opened = get_secret(c, &keyring, acme.id, "twilio.auth_token")
        .await
        .unwrap()
        .unwrap();
    tracing::info!(secret = ?opened, shown = %opened, "opened a secret");
    tracing::debug!(keyring = ?keyring, "keyring");
    api.call("DELETE", path, Some(&a), None).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/v1/secrets/twilio.auth_token"),
        "the requests were logged: {logs}"
    );
    assert!(
        logs.contains("opened a secret") && logs.contains("[redacted]"),
        "{logs}"
    );
    assert!(
        !logs.contains(VALUE),
        "a secret value reached the logs: {logs}"
    );
    assert!(
        !logs.contains(&VALUE[3..]),
        "part of a secret reached the logs"
    );
    for key in [&api.keys.a, &api.keys.reader] {
        assert!(!logs.contains(key.as_str()), "an API key reached the logs");
        assert!(
            !logs.contains(&key[4..]),
            "an API key's secret reached the logs"
        );
    }
    api.cleanup().await;
}
