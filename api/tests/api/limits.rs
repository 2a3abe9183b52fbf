use axum::body::Body;
use axum::http::{Request, StatusCode};
use rex_api::ApiConfig;

use crate::fixtures::TestApi;

#[tokio::test]
async fn a_key_over_its_rate_answers_429_with_retry_after() {
    let api = TestApi::embedded(ApiConfig {
        rate_limit_per_minute: 3,
        ..ApiConfig::default()
    })
    .await;
    for _ in 0..3 {
        let r = api
            .call("GET", "/v1/missions", Some(&api.keys.a), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = api
        .call("GET", "/v1/missions", Some(&api.keys.a), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{r:?}"
    );
    let retry_after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // the limit is per key
    let r = api
        .call("GET", "/v1/missions", Some(&api.keys.b), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    api.cleanup().await;
}

#[tokio::test]
async fn answers_carry_security_headers_and_a_request_id() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    for path in ["/healthz", "/v1/missions", "/nowhere"] {
        let r = api.call("GET", path, None, None).await;
        assert_eq!(
            r.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "no HSTS on plain HTTP"
        );
        let id = r.header("x-request-id").expect("a generated request id");
        assert!(uuid::Uuid::parse_str(id).is_ok());
    }
    let req = Request::get("/healthz")
        .header("x-request-id", "trace-me-42")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        api.send(req).await.header("x-request-id"),
        Some("trace-me-42")
    );
    // an id that could forge log lines is replaced
    let req = Request::get("/healthz")
        .header("x-request-id", "a b\tc")
        .body(Body::empty())
        .unwrap();
    assert_ne!(api.send(req).await.header("x-request-id"), Some("a b\tc"));
    api.cleanup().await;

    let api = TestApi::embedded(ApiConfig {
        behind_tls: true,
        cors_origins: vec!["https://app.example.com".into()],
        ..ApiConfig::default()
    })
    .await;
    let r = api.call("GET", "/healthz", None, None).await;
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age="))
    );
    let preflight = Request::options("/v1/missions")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        )
        .body(Body::empty())
        .unwrap();
    let r = api.send(preflight).await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let other = Request::get("/healthz")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        api.send(other).await.header("access-control-allow-origin"),
        None
    );
    api.cleanup().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_without_a_key() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = api.call("GET", "/healthz", None, None).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let r = api.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (StatusCode::OK, Some("ready")),
        "{r:?}"
    );
    let r = api.call("GET", "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    api.cleanup().await;
}
