//! `/v1/dry-run`: the dry-run log, newest first, every body labelled.

use axum::http::StatusCode;
use rex_api::ApiConfig;
use serde_json::json;

use crate::domain_fixtures::{dry_run_entry, ids};
use crate::fixtures::TestApi;

#[tokio::test]
async fn the_dry_run_log_is_listed_newest_first_and_labelled() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn the_dry_run_log_reads_the_same_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

async fn scenario(api: &TestApi) {
    let a = api.keys.reader.clone();
    let r = api.call("GET", "/v1/dry-run", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body,
        json!({"dry_run": true, "label": "DRY RUN — not sent", "items": [], "next_cursor": null})
    );
    let first = dry_run_entry(api, "acme", "sendgrid", "ana@acme.example").await;
    let second = dry_run_entry(api, "acme", "twilio", "+15005550006").await;
    let third = dry_run_entry(api, "acme", "sendgrid", "bo@acme.example").await;

    let page = api.call("GET", "/v1/dry-run?limit=2", Some(&a), None).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert_eq!(page.body["dry_run"], true);
    assert_eq!(page.body["label"], "DRY RUN — not sent");
    assert_eq!(ids(&page), [third.to_string(), second.to_string()]);
    for item in page.body["items"].as_array().unwrap() {
        assert_eq!(item["dry_run"], true);
        assert_eq!(item["label"], "DRY RUN — not sent");
    }
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/v1/dry-run?limit=2&cursor={cursor}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&rest), [first.to_string()]);
    assert_eq!(rest.body["next_cursor"], json!(null));

    let twilio = api
        .call("GET", "/v1/dry-run?provider=twilio", Some(&a), None)
        .await;
    assert_eq!(ids(&twilio), [second.to_string()]);

    let one = api
        .call("GET", &format!("/v1/dry-run/{first}"), Some(&a), None)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    assert_eq!(one.body["dry_run"], true);
    assert_eq!(one.body["label"], "DRY RUN — not sent");
    assert_eq!(one.body["provider"], "sendgrid");
    assert_eq!(one.body["recipient"], "ana@acme.example");
    assert_eq!(
        one.body["headers"],
        json!([["List-Unsubscribe", "<https://x/u/t>"]])
    );
    let missing = uuid::Uuid::now_v7();
    let r = api
        .call("GET", &format!("/v1/dry-run/{missing}"), Some(&a), None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}
