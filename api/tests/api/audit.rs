//! `/v1/audit`: secret changes, lead exports and erasures, key creation and
//! revocation, newest first, per tenant, without personal data or values.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rex_api::{ApiConfig, list_api_keys, revoke_api_key};
use serde_json::{Value, json};

use crate::fixtures::TestApi;
use crate::privacy::{EMAIL, seed_lead};
use crate::secrets::{VALUE, with_secrets};

/// Every entry of the tenant, following the cursor with pages of `limit`.
async fn all_entries(api: &TestApi, key: &str, limit: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/audit?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = api.call("GET", &path, Some(key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() as u64 <= limit);
        out.extend(items.iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

async fn audited(mut api: TestApi) {
    with_secrets(&mut api);
    let a = api.keys.a.clone();
    let lead = seed_lead(&api).await;
    let key_a = list_api_keys(api.db.store(), "acme").await.unwrap()[0].id;

    let req = Request::builder()
        .method("PUT")
        .uri("/v1/secrets/llm.api_key")
        .header("authorization", format!("Bearer {a}"))
        .header("content-type", "application/json")
        .header("x-request-id", "req-audit-1")
        .body(Body::from(json!({"value": VALUE}).to_string()))
        .unwrap();
    assert_eq!(api.send(req).await.status, StatusCode::NO_CONTENT);
    let r = api
        .call("DELETE", "/v1/secrets/llm.api_key", Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api
        .call("GET", &format!("/v1/leads/{lead}/export"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .call("POST", &format!("/v1/leads/{lead}/erase"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let writer = list_api_keys(api.db.store(), "acme").await.unwrap()[2].id;
    assert!(
        revoke_api_key(api.db.store(), "acme", writer)
            .await
            .unwrap()
    );

    let entries = all_entries(&api, &a, 2).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.revoke",
            "lead.erase",
            "lead.export",
            "secret.delete",
            "secret.set",
            "api_key.create",
            "api_key.create",
            "api_key.create",
        ],
        "newest first, the fixture's three acme keys first of all"
    );
    let set = &entries[4];
    assert_eq!(set["actor"], json!(key_a.to_string()));
    assert_eq!(set["target"], json!("llm.api_key"));
    assert_eq!(set["request_id"], json!("req-audit-1"));
    assert_eq!(set["details"]["key_id"], json!("dev-ephemeral"));
    assert_eq!(entries[1]["target"], json!(lead.to_string()));
    assert_eq!(entries[0]["actor"], json!("cli"));
    assert_eq!(entries[0]["target"], json!(writer.to_string()));
    let text = Value::Array(entries).to_string();
    assert!(!text.contains(VALUE) && !text.contains(EMAIL), "{text}");
    assert!(!text.contains("Lovelace"), "{text}");

    // the other tenant sees its own key's creation only
    let theirs = all_entries(&api, &api.keys.b, 100).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["action"], json!("api_key.create"));

    // refusals
    let r = api
        .call("GET", "/v1/audit", Some(&api.keys.reader), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=zzz", "cursor"),
    ] {
        let r = api
            .call("GET", &format!("/v1/audit?{query}"), Some(&a), None)
            .await;
        assert_eq!(
            (r.status, r.body["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{query}: {r:?}"
        );
    }
    api.cleanup().await;
}

#[tokio::test]
async fn every_privacy_operation_is_audited() {
    audited(TestApi::embedded(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn every_privacy_operation_is_audited_on_postgres() {
    audited(TestApi::on_postgres(ApiConfig::default()).await).await;
}
