use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::time::Duration;

use rex_api::{ApiConfig, ApiState};
use tokio_util::sync::CancellationToken;

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

/// Two API replicas on one database: a key gets its limit across both, not per
/// replica, and a request refused by either says when to come back.
async fn two_replicas_share_a_keys_limit(api: TestApi) {
    let config = ApiConfig {
        rate_limit_per_minute: 10,
        rate_limit_sync: Duration::from_millis(20),
        ..ApiConfig::default()
    };
    let replica = |state: &ApiState| {
        ApiState::new(
            state.store.clone(),
            state.engine.clone(),
            state.broker.clone(),
            config.clone(),
        )
    };
    let stop = CancellationToken::new();
    let mut bases = Vec::new();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        servers.push(tokio::spawn(rex_api::serve_on(
            listener,
            replica(&api.state),
            stop.clone(),
        )));
    }
    let http = reqwest::Client::new();
    let get = |base: &str, key: &str| {
        http.get(format!("{base}/v1/missions"))
            .bearer_auth(key)
            .send()
    };
    // 6 through the first replica, then the second knows of them
    for _ in 0..6 {
        assert_eq!(get(&bases[0], &api.keys.a).await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // the second lets through what is left of the 10 (plus the trickle refilled
    // meanwhile: 10 per minute is one per 6 s), not 10 of its own
    let mut ok = 0;
    let mut refused = None;
    for _ in 0..10 {
        let r = get(&bases[1], &api.keys.a).await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                refused = Some(r);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!((4..=5).contains(&ok), "the second replica let {ok} through");
    let refused = refused.expect("the second replica refused the key at its limit");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    // and the first now refuses it too, once it has synced
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&bases[0], &api.keys.a).await.unwrap().status(), 429);
    // another key is untouched
    assert_eq!(get(&bases[1], &api.keys.b).await.unwrap().status(), 200);
    stop.cancel();
    for s in servers {
        s.await.unwrap().unwrap();
    }
    api.cleanup().await;
}

#[tokio::test]
async fn two_replicas_share_a_keys_limit_on_sqlite() {
    two_replicas_share_a_keys_limit(TestApi::embedded(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn two_replicas_share_a_keys_limit_on_postgres() {
    two_replicas_share_a_keys_limit(TestApi::on_postgres(ApiConfig::default()).await).await;
}
