use axum::http::StatusCode;
use rex_api::ApiConfig;
use serde_json::{Value, json};

use crate::fixtures::{HELLO, TestApi};

fn hello() -> Value {
    serde_json::from_str(HELLO).unwrap()
}

#[tokio::test]
async fn definitions_are_validated_stored_listed_and_read() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let key = api.keys.a.clone();
    let body = json!({"definition": hello()});

    let r = api
        .call(
            "POST",
            "/v1/definitions/validate",
            Some(&key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body, json!({"name": "hello", "version": 1, "steps": 3}));
    // validating stores nothing
    let r = api.call("GET", "/v1/definitions", Some(&key), None).await;
    assert_eq!(r.body["items"], json!([]));

    let r = api
        .call("POST", "/v1/definitions", Some(&key), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        (r.body["name"].as_str(), r.body["created"].as_bool()),
        (Some("hello"), Some(true))
    );
    let r = api
        .call("POST", "/v1/definitions", Some(&key), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["created"], json!(false));

    let r = api
        .call("GET", "/v1/definitions", Some(&api.keys.reader), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["items"][0]["version"], json!(1));

    let r = api
        .call("GET", "/v1/definitions/hello/1", Some(&key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body["definition"]["steps"].as_array().map(Vec::len),
        Some(3)
    );
    let r = api
        .call("GET", "/v1/definitions/hello/2", Some(&key), None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));

    // a stored version is immutable
    let mut changed = hello();
    changed["description"] = json!("something else");
    let r = api
        .call(
            "POST",
            "/v1/definitions",
            Some(&key),
            Some(json!({"definition": changed})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "version_conflict"),
        "{r:?}"
    );
    api.cleanup().await;
}

#[tokio::test]
async fn a_bad_definition_answers_422_with_every_problem_located() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let mut bad = hello();
    bad["steps"][1]["agent"] = json!("scrapper");
    bad["steps"][2]["depends_on"] = json!(["nowhere"]);
    for path in ["/v1/definitions", "/v1/definitions/validate"] {
        let r = api
            .call(
                "POST",
                path,
                Some(&api.keys.a),
                Some(json!({"definition": bad})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let problems = r.body["problems"].as_array().cloned().unwrap_or_default();
        let located: Vec<(String, String)> = problems
            .iter()
            .map(|p| {
                (
                    p["code"].as_str().unwrap().to_owned(),
                    p["field"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            located.contains(&("unknown_agent".into(), "definition.steps[1].agent".into())),
            "{located:?}"
        );
        assert!(
            located.contains(&(
                "unknown_dependency".into(),
                "definition.steps[2].depends_on[0]".into()
            )),
            "{located:?}"
        );
        assert_eq!(r.body["code"], problems[0]["code"]);
        assert_eq!(r.body["field"], problems[0]["field"]);
    }
    let r = api
        .call("GET", "/v1/definitions", Some(&api.keys.a), None)
        .await;
    assert_eq!(r.body["items"], json!([]));
    api.cleanup().await;
}
