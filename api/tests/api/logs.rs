use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use rex_api::ApiConfig;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

use crate::fixtures::{TestApi, WAITER};

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

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn no_key_reaches_a_log_line_even_at_trace_level() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let api = TestApi::embedded(ApiConfig {
        rate_limit_per_minute: 5,
        ..ApiConfig::default()
    })
    .await;
    api.push(WAITER).await;
    let id = api.start(&api.keys.a, "waiter", json!({})).await;
    api.call(
        "GET",
        &format!("/v1/missions/{id}"),
        Some(&api.keys.a),
        None,
    )
    .await;
    let forged = format!("rex_{}", "ab".repeat(24));
    assert_eq!(
        api.call("GET", "/v1/missions", Some(&forged), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call("GET", "/v1/missions", Some("garbage-token"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // exhaust the limit: the refusal is logged too
    for _ in 0..6 {
        api.call("GET", "/v1/missions", Some(&api.keys.b), None)
            .await;
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("request"), "the requests were logged: {logs}");
    assert!(
        logs.contains("rex.tenant=acme") || logs.contains("acme"),
        "{logs}"
    );
    for secret in [
        &api.keys.a,
        &api.keys.b,
        &forged,
        &"garbage-token".to_owned(),
    ] {
        assert!(!logs.contains(secret.as_str()), "a key reached the logs");
        // nor the secret part alone
        assert!(
            !logs.contains(&secret[4.min(secret.len())..]),
            "a key's secret reached the logs"
        );
    }
    assert!(
        !logs.to_lowercase().contains("bearer"),
        "an authorization header reached the logs"
    );
    api.cleanup().await;
}
