//! One-click unsubscribe: `GET /u/{token}` shows a page, `POST` suppresses, signed
//! tokens only.

use axum::http::StatusCode;
use rex_api::ApiConfig;
use rex_domain::unsubscribe::{DEV_SECRET, sign};
use serde_json::json;

use crate::domain_fixtures::{TWO_LEADS, import_csv, send_raw, sent_email};
use crate::fixtures::{Resp, TestApi};

const FORM: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn one_click_unsubscribe_suppresses_once_and_refuses_tampered_tokens() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn one_click_unsubscribe_works_the_same_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

async fn post(api: &TestApi, token: &str, body: &str) -> Resp {
    send_raw(
        api,
        "POST",
        &format!("/u/{token}"),
        None,
        Some(FORM),
        body.to_owned(),
    )
    .await
}

/// The suppression state of acme's lead `L1`.
async fn state_of_l1(api: &TestApi) -> serde_json::Value {
    let r = api.call("GET", "/v1/leads", Some(&api.keys.a), None).await;
    let id = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = api
        .call("GET", &format!("/v1/leads/{id}"), Some(&api.keys.a), None)
        .await;
    assert_eq!(r.body["external_id"], "L1");
    r.body["suppression"].clone()
}

async fn scenario(api: &TestApi) {
    let r = import_csv(api, &api.keys.a, TWO_LEADS).await;
    assert_eq!(r.body["inserted"], 2, "{r:?}");
    let tenant = sent_email(api, "acme", "L1", "0190-mission:send_1").await;
    // the API runs on the development key here, as the agents do without a secret
    let token = sign(DEV_SECRET, tenant, "0190-mission:send_1");

    let page = send_raw(api, "GET", &format!("/u/{token}"), None, None, "").await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{page:?}"
    );
    let html = page.body.as_str().unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(html.contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert!(!html.contains("<script") && !html.contains("style") && !html.contains("http"));
    assert_eq!(
        page.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    // showing the page changes nothing
    assert_eq!(state_of_l1(api).await["suppressed"], false);

    // a POST without the one-click body is refused and stores nothing
    let r = post(api, &token, "List-Unsubscribe=Later").await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            Some("List-Unsubscribe")
        ),
        "{r:?}"
    );
    assert_eq!(state_of_l1(api).await["suppressed"], false);

    let r = post(api, &token, "List-Unsubscribe=One-Click").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body, json!(""), "an empty body");
    let state = state_of_l1(api).await;
    assert_eq!(state["suppressed"], true, "{state}");
    assert_eq!(state["reasons"], json!(["unsubscribe"]));
    assert_eq!(
        state["entries"][0]["source_event"],
        "unsubscribe:0190-mission:send_1"
    );
    // again: the same answer, still one entry
    let r = post(api, &token, "List-Unsubscribe=One-Click").await;
    assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!("")));
    let again = state_of_l1(api).await;
    assert_eq!(again["entries"].as_array().unwrap().len(), 1);
    assert_eq!(again["since"], state["since"]);

    // L2 was never unsubscribed by any of this
    let r = api.call("GET", "/v1/leads", Some(&api.keys.a), None).await;
    let l2 = r.body["items"][1]["id"].as_str().unwrap().to_owned();
    let r = api
        .call("GET", &format!("/v1/leads/{l2}"), Some(&api.keys.a), None)
        .await;
    assert_eq!(r.body["suppression"]["suppressed"], false);

    // tampered, foreign-keyed or unknown tokens: 404 and nothing stored
    let mut tampered = token.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let forged = sign(
        "another secret of at least thirty-two bytes",
        tenant,
        "0190-mission:send_1",
    );
    let unknown = sign(DEV_SECRET, tenant, "0190-mission:never_sent");
    let other_tenant = sign(DEV_SECRET, uuid::Uuid::now_v7(), "0190-mission:send_1");
    for bad in [
        tampered.as_str(),
        &forged,
        &unknown,
        &other_tenant,
        "garbage",
        "a.b",
    ] {
        let r = post(api, bad, "List-Unsubscribe=One-Click").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{bad}: {r:?}"
        );
    }
    for bad in [tampered.as_str(), &forged] {
        let r = send_raw(api, "GET", &format!("/u/{bad}"), None, None, "").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
        assert!(r.body.as_str().unwrap().contains("not valid"));
    }
    assert_eq!(
        state_of_l1(api).await["entries"].as_array().unwrap().len(),
        1
    );
}
