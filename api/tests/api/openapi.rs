use axum::http::StatusCode;
use rex_api::ApiConfig;

use crate::fixtures::TestApi;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// `REX_UPDATE_OPENAPI=1` rewrites the committed copy instead of comparing.
#[test]
fn openapi_document_is_committed() {
    let generated = rex_api::openapi::document_json();
    if std::env::var_os("REX_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("writing api/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "api/openapi.json is out of date; regenerate it with \
         `REX_UPDATE_OPENAPI=1 cargo nextest run -p rex-api openapi_document_is_committed`"
    );
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_with_every_endpoint() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = api.call("GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(r.body, committed);
    let paths = r.body["paths"].as_object().expect("paths");
    for path in [
        "/v1/definitions",
        "/v1/definitions/validate",
        "/v1/definitions/{name}/{version}",
        "/v1/missions",
        "/v1/missions/{id}",
        "/v1/missions/{id}/cancel",
        "/v1/missions/{id}/retry",
        "/v1/missions/{id}/signals",
        "/v1/missions/{id}/events",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    api.cleanup().await;
}

#[test]
fn every_operation_id_is_unique() {
    let doc: serde_json::Value = serde_json::from_str(&rex_api::openapi::document_json()).unwrap();
    let mut ids = std::collections::HashMap::<String, String>::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            if let Some(other) = ids.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id:?} of {method} {path} is also {other}'s");
            }
        }
    }
}
