//! Every answer is counted on `/metrics` by method, route template and status.

use axum::http::StatusCode;
use rex_api::ApiConfig;
use uuid::Uuid;

use crate::fixtures::TestApi;

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let missing = Uuid::new_v4();
    for _ in 0..2 {
        let r = api
            .call(
                "GET",
                &format!("/v1/missions/{missing}"),
                Some(&api.keys.a),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let r = api
        .call("GET", "/v1/missions", Some(&api.keys.a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call("GET", "/no/such/path", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let text = api.call("GET", "/metrics", None, None).await.body;
    let text = text.as_str().expect("metrics text");
    let count =
        |series: &str| sample(text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        count(r#"rex_http_requests_total{method="GET",route="/v1/missions/{id}",status="404"}"#),
        2.0
    );
    assert_eq!(
        count(r#"rex_http_requests_total{method="GET",route="/v1/missions",status="200"}"#),
        1.0
    );
    assert_eq!(
        count(r#"rex_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert_eq!(
        count(r#"rex_http_request_duration_seconds_count{method="GET",route="/v1/missions/{id}"}"#),
        2.0
    );
    assert!(
        !text.contains(&missing.to_string()),
        "no id becomes a label value"
    );
    api.cleanup().await;
}
