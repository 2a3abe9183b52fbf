use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rex_api::ApiConfig;
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{HELLO, TestApi, WAITER, status_of};

#[tokio::test]
async fn a_started_mission_runs_and_its_timeline_is_read() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(HELLO).await;
    api.run_engine();
    let r = api
        .call(
            "POST",
            "/v1/missions",
            Some(&api.keys.a),
            Some(json!({"definition": "hello", "input": {"name": "Ada"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.id();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/missions/{id}").as_str())
    );

    let mission = api
        .wait_for(&api.keys.reader, id, |m| status_of(m) == "succeeded")
        .await;
    assert_eq!(mission["definition"], json!("hello"));
    assert_eq!(mission["input"], json!({"name": "Ada"}));
    let steps: Vec<(&str, &str)> = mission["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("start", "succeeded"),
            ("greet", "succeeded"),
            ("repeat", "succeeded")
        ]
    );
    assert_eq!(
        mission["steps"][1]["output"]["greeting"],
        json!("Hello, Ada")
    );
    api.cleanup().await;
}

async fn start_with_key(
    api: &TestApi,
    key: &str,
    idem: &str,
    name: &str,
) -> (StatusCode, serde_json::Value) {
    let req = Request::post("/v1/missions")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(Body::from(
            json!({"definition": "hello", "input": {"name": name}}).to_string(),
        ))
        .unwrap();
    let r = api.send(req).await;
    (r.status, r.body)
}

#[tokio::test]
async fn one_idempotency_key_starts_one_mission_per_tenant() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(HELLO).await;
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());

    let (s1, first) = start_with_key(&api, &a, "order-42", "Ada").await;
    let (s2, again) = start_with_key(&api, &a, "order-42", "Ada").await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(
        (first["created"].clone(), again["created"].clone()),
        (json!(true), json!(false))
    );

    // the same key with another request is refused, not silently answered
    let (s, body) = start_with_key(&api, &a, "order-42", "Grace").await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_conflict"))
    );
    assert_eq!(body["field"], json!("idempotency-key"));

    // keys are scoped by tenant: globex's "order-42" is its own mission
    let (s, other) = start_with_key(&api, &b, "order-42", "Ada").await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    api.cleanup().await;
}

#[tokio::test]
async fn listing_filters_and_pages_with_a_cursor() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(HELLO).await;
    api.push(WAITER).await;
    let key = api.keys.a.clone();
    let mut started = HashSet::new();
    for i in 0..5 {
        started.insert(
            api.start(&key, "hello", json!({"name": format!("n{i}")}))
                .await,
        );
    }
    let waiter = api.start(&key, "waiter", json!({})).await;
    api.start(&api.keys.b, "hello", json!({"name": "other tenant"}))
        .await;

    let mut seen = Vec::new();
    let mut path = "/v1/missions?definition=hello&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let r = api.call("GET", &path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        pages += 1;
        for m in r.body["items"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        match r.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/missions?definition=hello&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), started);
    // newest first
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);

    let r = api
        .call("GET", "/v1/missions?definition=waiter", Some(&key), None)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["items"][0]["id"], json!(waiter.to_string()));
    let r = api
        .call("GET", "/v1/missions?status=succeeded", Some(&key), None)
        .await;
    assert_eq!(r.body["items"], json!([]));
    let r = api
        .call("GET", "/v1/missions?status=running", Some(&key), None)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(6));

    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let enc = |t: &str| t.replace('+', "%2B").replace(':', "%3A");
    let r = api
        .call(
            "GET",
            &format!("/v1/missions?created_from={}", enc(&future)),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["items"], json!([]));
    let r = api
        .call(
            "GET",
            &format!(
                "/v1/missions?created_from={}&created_to={}",
                enc(&past),
                enc(&future)
            ),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(6));
    api.cleanup().await;
}

#[tokio::test]
async fn cancel_retry_and_signal_steer_a_mission() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(WAITER).await;
    api.run_engine();
    let key = api.keys.a.clone();
    let waiting = |m: &serde_json::Value| m["steps"][1]["status"] == json!("waiting");

    // a signal resumes the wait; the same signal id again acts once
    let id = api.start(&key, "waiter", json!({})).await;
    api.wait_for(&key, id, waiting).await;
    let signal = json!({"name": "lead.replied", "payload": {"text": "yes"}, "id": "sig-1"});
    let r = api
        .call(
            "POST",
            &format!("/v1/missions/{id}/signals"),
            Some(&key),
            Some(signal.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["outcome"].as_str(), r.body["signal_id"].as_str()),
        (Some("applied"), Some("sig-1"))
    );
    let done = api
        .wait_for(&key, id, |m| status_of(m) == "succeeded")
        .await;
    assert_eq!(
        done["steps"][1]["output"]["payload"],
        json!({"text": "yes"})
    );
    let r = api
        .call(
            "POST",
            &format!("/v1/missions/{id}/signals"),
            Some(&key),
            Some(signal),
        )
        .await;
    assert_eq!(r.body["outcome"], json!("ignored"));

    // cancel, cancel again, retry, retry a running mission
    let id = api.start(&key, "waiter", json!({})).await;
    api.wait_for(&key, id, waiting).await;
    let cancel = format!("/v1/missions/{id}/cancel");
    let r = api
        .call(
            "POST",
            &cancel,
            Some(&key),
            Some(json!({"reason": "changed my mind"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{r:?}"
    );
    assert_eq!(
        status_of(
            &api.wait_for(&key, id, |m| status_of(m) == "cancelled")
                .await
        ),
        "cancelled"
    );
    let r = api.call("POST", &cancel, Some(&key), None).await;
    assert_eq!(
        (r.status, r.body["outcome"].as_str()),
        (StatusCode::OK, Some("ignored")),
        "{r:?}"
    );

    let retry = format!("/v1/missions/{id}/retry");
    let r = api
        .call("POST", &retry, Some(&key), Some(json!({"from": "nope"})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_step"),
        "{r:?}"
    );
    assert_eq!(r.body["field"], json!("from"));
    let r = api
        .call("POST", &retry, Some(&key), Some(json!({"from": "first"})))
        .await;
    assert_eq!(
        (r.status, r.body["outcome"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{r:?}"
    );
    api.wait_for(&key, id, |m| status_of(m) == "running" && waiting(m))
        .await;
    let r = api.call("POST", &retry, Some(&key), None).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "not_retryable"),
        "{r:?}"
    );
    api.cleanup().await;
}

const FAN: &str = r#"{
  "name": "fan", "version": 1,
  "inputs": {"items": {"type": "array", "required": true}},
  "steps": [
    {"id": "each", "for_each": "${inputs.items}", "max_concurrency": 2,
     "agent": "echo", "action": "echo", "input": {"n": "${item}"}}
  ]
}"#;

#[tokio::test]
async fn the_children_of_a_fan_out_belong_to_their_parents_tenant() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(FAN).await;
    api.run_engine();
    let parent = api
        .start(&api.keys.a, "fan", json!({"items": [1, 2, 3]}))
        .await;
    api.wait_for(&api.keys.a, parent, |m| status_of(m) == "succeeded")
        .await;
    let children = api
        .db
        .list_missions(rex_store::MissionFilter {
            family: rex_store::Family::ChildrenOf(parent),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(children.len(), 3);
    for child in &children {
        assert_eq!(child.tenant_id, "acme");
        let path = format!("/v1/missions/{}", child.id);
        assert_eq!(
            api.call("GET", &path, Some(&api.keys.a), None).await.status,
            StatusCode::OK
        );
        let r = api.call("GET", &path, Some(&api.keys.b), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    // listings show what the tenant started, not the items
    let r = api
        .call("GET", "/v1/missions", Some(&api.keys.a), None)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    api.cleanup().await;
}

/// A waiting mission's page — steps, attempts, the armed timeout — as the API shows it
/// on `api`, with ids and times replaced by placeholders.
async fn waiting_page(api: &TestApi) -> serde_json::Value {
    api.push(WAITER).await;
    api.run_engine();
    let id = api.start(&api.keys.a, "waiter", json!({})).await;
    let page = api
        .wait_for(&api.keys.reader, id, |m| {
            m["steps"][1]["status"] == json!("waiting")
                && !m["timers"].as_array().unwrap().is_empty()
        })
        .await;
    // another tenant's key sees nothing, on either backend
    let r = api
        .call(
            "GET",
            &format!("/v1/missions/{id}"),
            Some(&api.keys.b),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    placeholders(page)
}

/// `value` with every UUID and RFC 3339 time string replaced by a placeholder.
fn placeholders(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if Uuid::try_parse(&s).is_ok() => json!("<id>"),
        Value::String(s) if chrono::DateTime::parse_from_rfc3339(&s).is_ok() => json!("<time>"),
        Value::Array(items) => Value::Array(items.into_iter().map(placeholders).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| match k.as_str() {
                    "duration_ms" => (k, json!(v.is_number())),
                    _ => (k, placeholders(v)),
                })
                .collect(),
        ),
        other => other,
    }
}

/// PostgreSQL reads a mission's page with one stored function, SQLite in one
/// transaction: both must show the same thing.
#[tokio::test]
async fn a_waiting_missions_page_reads_alike_on_sqlite_and_postgres() {
    let embedded = TestApi::embedded(ApiConfig::default()).await;
    let on_sqlite = waiting_page(&embedded).await;
    embedded.cleanup().await;
    let postgres = TestApi::on_postgres(ApiConfig::default()).await;
    let on_postgres = waiting_page(&postgres).await;
    postgres.cleanup().await;

    assert_eq!(on_sqlite, on_postgres);
    assert_eq!(on_postgres["input"], json!({}));
    let attempts: Vec<(&str, &str)> = on_postgres["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["step"].as_str().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert_eq!(attempts, [("first", "succeeded")]);
    assert_eq!(
        on_postgres["timers"],
        json!([{"kind": "wait_timeout", "step": "reply", "attempt": 1, "due_at": "<time>"}])
    );
}
