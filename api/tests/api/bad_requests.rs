//! A catalogue of bad requests, each with its exact status, code and field.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rex_api::ApiConfig;
use serde_json::json;

use crate::fixtures::{HELLO, TestApi, WAITER};

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
}

fn case(
    what: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: impl Into<Vec<u8>>,
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type: Some("application/json"),
        headers: Vec::new(),
        body: body.into(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "",
        field: None,
    }
}

impl Case {
    fn expect(
        mut self,
        status: StatusCode,
        code: &'static str,
        field: Option<&'static str>,
    ) -> Case {
        (self.status, self.code, self.field) = (status, code, field);
        self
    }
    fn content_type(mut self, ct: Option<&'static str>) -> Case {
        self.content_type = ct;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
}

fn config() -> ApiConfig {
    ApiConfig {
        body_limit: 64 * 1024,
        ..ApiConfig::default()
    }
}

#[tokio::test]
async fn every_bad_request_answers_its_exact_status_code_and_field() {
    catalogue(TestApi::embedded(config()).await).await;
}

/// PostgreSQL refuses some values SQLite takes (NUL characters, far years): none may
/// reach it and answer 500.
#[tokio::test]
async fn every_bad_request_answers_the_same_on_postgres() {
    catalogue(TestApi::on_postgres(config()).await).await;
}

async fn catalogue(api: TestApi) {
    use StatusCode as S;
    api.push(HELLO).await;
    api.push(WAITER).await;
    let id = api.start(&api.keys.a, "waiter", json!({})).await;
    let start =
        |input: serde_json::Value| json!({"definition": "hello", "input": input}).to_string();
    let deep = format!(
        "{{\"definition\": \"hello\", \"input\": {{\"x\": {}{}}}}}",
        "[".repeat(100),
        "]".repeat(100)
    );
    let huge = format!(
        "{{\"definition\": \"hello\", \"input\": {{\"name\": \"{}\"}}}}",
        "x".repeat(100 * 1024)
    );
    let hello: serde_json::Value = serde_json::from_str(HELLO).unwrap();

    let cases = vec![
        case(
            "no content type",
            "POST",
            "/v1/missions",
            start(json!({"name": "a"})),
        )
        .content_type(None)
        .expect(
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("content-type"),
        ),
        case("text body", "POST", "/v1/missions", "definition=hello")
            .content_type(Some("text/plain"))
            .expect(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("content-type"),
            ),
        case(
            "truncated JSON",
            "POST",
            "/v1/missions",
            "{\"definition\": ",
        )
        .expect(S::BAD_REQUEST, "malformed_json", None),
        case("empty body", "POST", "/v1/missions", "").expect(
            S::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        case(
            "trailing garbage",
            "POST",
            "/v1/missions",
            "{\"definition\": \"hello\"} x",
        )
        .expect(S::BAD_REQUEST, "malformed_json", None),
        case(
            "not UTF-8",
            "POST",
            "/v1/missions",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
        )
        .expect(S::BAD_REQUEST, "malformed_json", None),
        case(
            "misspelt field",
            "POST",
            "/v1/missions",
            r#"{"definition": "hello", "inptu": {}}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "unknown_field", Some("inptu")),
        case("missing field", "POST", "/v1/missions", r#"{"input": {}}"#).expect(
            S::UNPROCESSABLE_ENTITY,
            "missing_field",
            Some("definition"),
        ),
        case("wrong type", "POST", "/v1/missions", r#"{"definition": 5}"#).expect(
            S::UNPROCESSABLE_ENTITY,
            "wrong_type",
            Some("definition"),
        ),
        case(
            "unknown definition",
            "POST",
            "/v1/missions",
            r#"{"definition": "nope"}"#,
        )
        .expect(
            S::UNPROCESSABLE_ENTITY,
            "unknown_definition",
            Some("definition"),
        ),
        case(
            "unknown version",
            "POST",
            "/v1/missions",
            r#"{"definition": "hello", "version": 9}"#,
        )
        .expect(
            S::UNPROCESSABLE_ENTITY,
            "unknown_definition",
            Some("version"),
        ),
        case("missing input", "POST", "/v1/missions", start(json!({}))).expect(
            S::UNPROCESSABLE_ENTITY,
            "missing_input",
            Some("input.name"),
        ),
        case(
            "unknown input",
            "POST",
            "/v1/missions",
            start(json!({"name": "a", "nmae": "b"})),
        )
        .expect(S::UNPROCESSABLE_ENTITY, "unknown_input", Some("input.nmae")),
        case(
            "input of the wrong type",
            "POST",
            "/v1/missions",
            start(json!({"name": 7})),
        )
        .expect(
            S::UNPROCESSABLE_ENTITY,
            "input_type_mismatch",
            Some("input.name"),
        ),
        case(
            "input not an object",
            "POST",
            "/v1/missions",
            start(json!([1])),
        )
        .expect(S::UNPROCESSABLE_ENTITY, "inputs_not_object", Some("input")),
        case(
            "idempotency key too long",
            "POST",
            "/v1/missions",
            start(json!({"name": "a"})),
        )
        .header("idempotency-key", "k".repeat(300))
        .expect(S::BAD_REQUEST, "invalid_header", Some("idempotency-key")),
        case("body over the limit", "POST", "/v1/missions", huge).expect(
            S::PAYLOAD_TOO_LARGE,
            "body_too_large",
            None,
        ),
        case("JSON nested too deep", "POST", "/v1/missions", deep).expect(
            S::PAYLOAD_TOO_LARGE,
            "json_too_deep",
            None,
        ),
        case("unknown status", "GET", "/v1/missions?status=bogus", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("status"),
        ),
        case("zero limit", "GET", "/v1/missions?limit=0", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("limit"),
        ),
        case("limit over the page", "GET", "/v1/missions?limit=1000", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("limit"),
        ),
        case("limit not a number", "GET", "/v1/missions?limit=abc", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("limit"),
        ),
        case("forged cursor", "GET", "/v1/missions?cursor=garbage", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("cursor"),
        ),
        case("unknown parameter", "GET", "/v1/missions?colour=red", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "unknown_parameter",
            Some("colour"),
        ),
        case("bad time", "GET", "/v1/missions?created_from=yesterday", "").expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("created_from"),
        ),
        case(
            "mission id not a uuid",
            "GET",
            "/v1/missions/not-a-uuid",
            "",
        )
        .expect(S::BAD_REQUEST, "invalid_path", Some("path")),
        case(
            "version not a number",
            "GET",
            "/v1/definitions/hello/one",
            "",
        )
        .expect(S::BAD_REQUEST, "invalid_path", Some("path")),
        case(
            "unknown mission",
            "GET",
            format!("/v1/missions/{}", uuid::Uuid::now_v7()),
            "",
        )
        .expect(S::NOT_FOUND, "not_found", None),
        case("method not allowed", "DELETE", "/v1/missions", "").expect(
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            None,
        ),
        case("unknown endpoint", "GET", "/v1/nothing", "").expect(S::NOT_FOUND, "not_found", None),
        case(
            "definition as a string",
            "POST",
            "/v1/definitions",
            r#"{"definition": "name: x"}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "wrong_type", Some("definition")),
        case(
            "unknown top-level field",
            "POST",
            "/v1/definitions",
            json!({"definition": hello, "extra": 1}).to_string(),
        )
        .expect(S::UNPROCESSABLE_ENTITY, "unknown_field", Some("extra")),
        case(
            "bad signal name",
            "POST",
            format!("/v1/missions/{id}/signals"),
            r#"{"name": "bad name!"}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "invalid_signal_name", Some("name")),
        case(
            "signal without a name",
            "POST",
            format!("/v1/missions/{id}/signals"),
            r#"{"payload": 1}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "missing_field", Some("name")),
        case(
            "cancel reason of the wrong type",
            "POST",
            format!("/v1/missions/{id}/cancel"),
            r#"{"reason": 5}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "wrong_type", Some("reason")),
        case(
            "cancel with an unknown field",
            "POST",
            format!("/v1/missions/{id}/cancel"),
            r#"{"because": "x"}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "unknown_field", Some("because")),
        case(
            "NUL in a string",
            "POST",
            "/v1/missions",
            start(json!({"name": "a\u{0}b"})),
        )
        .expect(S::UNPROCESSABLE_ENTITY, "invalid_value", None),
        case("NUL in the path", "GET", "/v1/definitions/hel%00lo/1", "").expect(
            S::BAD_REQUEST,
            "invalid_path",
            Some("path"),
        ),
        case(
            "NUL in the query",
            "GET",
            "/v1/missions?definition=a%00b",
            "",
        )
        .expect(S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("query")),
        case(
            "cursor in a far year",
            "GET",
            format!(
                "/v1/missions?cursor={}.{}",
                i64::MAX / 2,
                uuid::Uuid::nil().simple()
            ),
            "",
        )
        .expect(S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("cursor")),
        case(
            "time in year 0",
            "GET",
            "/v1/missions?created_to=0000-01-01T00:00:00Z",
            "",
        )
        .expect(
            S::UNPROCESSABLE_ENTITY,
            "invalid_parameter",
            Some("created_to"),
        ),
        case(
            "signal with a NUL name",
            "POST",
            format!("/v1/missions/{id}/signals"),
            r#"{"name": "a\u0000"}"#,
        )
        .expect(S::UNPROCESSABLE_ENTITY, "invalid_value", None),
        case(
            "unknown definition with odd characters",
            "POST",
            "/v1/missions",
            r#"{"definition": "ü😀'; drop table missions; --"}"#,
        )
        .expect(
            S::UNPROCESSABLE_ENTITY,
            "unknown_definition",
            Some("definition"),
        ),
        case(
            "cancel with a form body",
            "POST",
            format!("/v1/missions/{id}/cancel"),
            "reason=x",
        )
        .content_type(Some("application/x-www-form-urlencoded"))
        .expect(
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            Some("content-type"),
        ),
        case("basic auth", "GET", "/v1/missions", "")
            .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
            .expect(S::UNAUTHORIZED, "unauthorized", Some("authorization")),
    ];
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for c in cases {
        let mut req = Request::builder().method(c.method).uri(&c.path);
        if !c.headers.iter().any(|(name, _)| *name == "authorization") {
            req = req.header("authorization", format!("Bearer {}", api.keys.a));
        }
        for (name, value) in &c.headers {
            req = req.header(*name, value);
        }
        if let Some(ct) = c.content_type.filter(|_| c.method == "POST") {
            req = req.header("content-type", ct);
        }
        let r = api.send(req.body(Body::from(c.body)).unwrap()).await;
        let got = (
            r.status,
            r.code().to_owned(),
            r.body["field"].as_str().map(str::to_owned),
        );
        let want = (c.status, c.code.to_owned(), c.field.map(str::to_owned));
        if got != want {
            failures.push(format!(
                "{}: got {got:?}, want {want:?}: {}",
                c.what, r.body
            ));
        }
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}: {r:?}",
            c.what
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // none of it reached the engine: the one mission is still the only one
    let r = api
        .call("GET", "/v1/missions", Some(&api.keys.a), None)
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    api.cleanup().await;
}
