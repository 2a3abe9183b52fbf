//! `/v1/domains` and `/v1/mailboxes`: add, list with health and warmup, pause, resume.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use rex_api::ApiConfig;
use serde_json::json;

use crate::domain_fixtures::{add_domain, add_mailbox};
use crate::fixtures::TestApi;

#[tokio::test]
async fn domains_and_mailboxes_are_added_listed_paused_and_resumed() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn domains_and_mailboxes_work_the_same_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    scenario(&api).await;
    api.cleanup().await;
}

async fn scenario(api: &TestApi) {
    let a = api.keys.a.clone();
    let r = api.call("GET", "/v1/domains", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["items"], json!([]));
    // the lines between health tiers, for drawing rates against them
    assert_eq!(
        r.body["thresholds"]["bounce"],
        json!([0.010, 0.015, 0.018, 0.030])
    );
    assert_eq!(r.body["thresholds"]["tiers"][4], "blocked");

    let r = api
        .call(
            "POST",
            "/v1/domains",
            Some(&a),
            Some(json!({"domain": " Mail.Acme.Example. "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let domain = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/domains/{domain}").as_str())
    );
    assert_eq!(r.body["domain"], "mail.acme.example");
    assert_eq!(r.body["health"], "excellent");
    assert_eq!(r.body["paused"], false);
    assert_eq!(
        r.body["warmup"],
        json!({"state": "none", "day": null, "cap": null})
    );
    assert_eq!(r.body["mailboxes"], json!([]));

    // a new mailbox starts warming: day 1, five sends
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/mailboxes"),
            Some(&a),
            Some(json!({"address": "Ana@mail.acme.example", "daily_cap": 30})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let ana = r.id();
    assert_eq!(r.body["address"], "ana@mail.acme.example");
    assert_eq!(r.body["domain_id"], json!(domain));
    assert_eq!(r.body["daily_cap"], 30);
    assert_eq!(
        r.body["warmup"],
        json!({"state": "warming", "day": 1, "cap": 5})
    );
    assert_eq!(r.body["cap_today"], 5);
    assert_eq!(r.body["used_today"], 0);
    assert_eq!(r.body["health"], "excellent");

    // one warmed elsewhere: the operator's cap is its limit
    let warm_since = Utc::now() - Duration::days(120);
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/mailboxes"),
            Some(&a),
            Some(json!({"address": "bo@mail.acme.example", "daily_cap": 25,
                        "warmup_started_at": warm_since})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let bo = r.id();
    assert_eq!(r.body["warmup"]["state"], "warm");
    assert_eq!(r.body["warmup"]["day"], 121);
    assert_eq!(r.body["cap_today"], 25);

    let r = api
        .call("GET", "/v1/domains", Some(&api.keys.reader), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let listed = &items[0];
    assert_eq!(listed["id"], json!(domain));
    // the domain's warmup is its youngest mailbox's
    assert_eq!(listed["warmup"]["day"], 1);
    let boxes: Vec<&str> = listed["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["address"].as_str().unwrap())
        .collect();
    assert_eq!(boxes, ["ana@mail.acme.example", "bo@mail.acme.example"]);

    // pausing the domain stops every mailbox
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/pause"),
            Some(&a),
            Some(json!({"reason": "bounce spike"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["paused"], true);
    assert_eq!(r.body["paused_reason"], "bounce spike");
    for m in r.body["mailboxes"].as_array().unwrap() {
        assert_eq!(m["cap_today"], 0, "{m}");
    }
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/resume"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["paused"], false);
    assert_eq!(r.body["paused_reason"], json!(null));
    assert_eq!(r.body["mailboxes"][1]["cap_today"], 25);

    // and a mailbox alone, with an empty body
    let r = api
        .call("POST", &format!("/v1/mailboxes/{bo}/pause"), Some(&a), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["paused"].clone(), r.body["cap_today"].clone()),
        (json!(true), json!(0))
    );
    let r = api.call("GET", "/v1/domains", Some(&a), None).await;
    let boxes = r.body["items"][0]["mailboxes"].as_array().unwrap().clone();
    assert_eq!(boxes[0]["paused"], false);
    assert_eq!(boxes[1]["paused"], true);
    let r = api
        .call(
            "POST",
            &format!("/v1/mailboxes/{bo}/resume"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["paused"], false);
    assert_eq!(r.body["id"], json!(bo));
    let _ = ana;

    // the same domain again is a conflict, not a second row
    let r = api
        .call(
            "POST",
            "/v1/domains",
            Some(&a),
            Some(json!({"domain": "mail.acme.example"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (StatusCode::CONFLICT, "already_exists", Some("domain"))
    );
    let again = add_domain(api, &a, "news.acme.example").await;
    add_mailbox(api, &a, again, "ana@news.acme.example").await;
    let r = api.call("GET", "/v1/domains", Some(&a), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn reading_domains_takes_read_and_changing_them_takes_write() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = api
        .call(
            "POST",
            "/v1/domains",
            Some(&api.keys.reader),
            Some(json!({"domain": "mail.acme.example"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{r:?}"
    );
    let domain = add_domain(&api, &api.keys.writer, "mail.acme.example").await;
    let r = api
        .call("GET", "/v1/domains", Some(&api.keys.writer), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/pause"),
            Some(&api.keys.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = api.call("GET", "/v1/domains", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    api.cleanup().await;
}
