//! A catalogue of bad requests to the domain resources, each with its exact status,
//! code and field: none answers 500, none stores anything.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use rex_api::ApiConfig;
use serde_json::json;

use crate::domain_fixtures::{add_domain, import_csv, send_raw, sent_email};
use crate::fixtures::TestApi;

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
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
    (status, code, field): (StatusCode, &'static str, Option<&'static str>),
) -> Case {
    Case {
        what,
        method,
        path: path.into(),
        content_type: Some("application/json"),
        body: body.into(),
        status,
        code,
        field,
    }
}

impl Case {
    fn content_type(mut self, ct: Option<&'static str>) -> Case {
        self.content_type = ct;
        self
    }
}

#[tokio::test]
async fn every_bad_domain_request_answers_its_exact_status_code_and_field() {
    catalogue(TestApi::embedded(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn every_bad_domain_request_answers_the_same_on_postgres() {
    catalogue(TestApi::on_postgres(ApiConfig::default()).await).await;
}

async fn catalogue(api: TestApi) {
    use StatusCode as S;
    let a = api.keys.a.clone();
    let domain = add_domain(&api, &a, "mail.acme.example").await;
    let r = import_csv(
        &api,
        &a,
        "external_id,email,source,stage\nL1,ana@acme.example,x,demo\n",
    )
    .await;
    assert_eq!(r.body["inserted"], 1, "{r:?}");
    let tenant = sent_email(&api, "acme", "L1", "m1:s1").await;
    let token = rex_domain::unsubscribe::sign(rex_domain::unsubscribe::DEV_SECRET, tenant, "m1:s1");
    let mailboxes = format!("/v1/domains/{domain}/mailboxes");
    let csv = |text: &str| text.as_bytes().to_vec();
    let future = (Utc::now() + Duration::days(2)).to_rfc3339();

    let cases = vec![
        case(
            "not a domain",
            "POST",
            "/v1/domains",
            r#"{"domain": "localhost"}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_domain", Some("domain")),
        ),
        case(
            "a domain with a path",
            "POST",
            "/v1/domains",
            r#"{"domain": "acme.example/x"}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_domain", Some("domain")),
        ),
        case(
            "an address, not a domain",
            "POST",
            "/v1/domains",
            r#"{"domain": "ana@acme.example"}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_domain", Some("domain")),
        ),
        case(
            "misspelt field",
            "POST",
            "/v1/domains",
            r#"{"domian": "acme.example"}"#,
            (S::UNPROCESSABLE_ENTITY, "unknown_field", Some("domian")),
        ),
        case(
            "the same domain again",
            "POST",
            "/v1/domains",
            r#"{"domain": "MAIL.acme.example"}"#,
            (S::CONFLICT, "already_exists", Some("domain")),
        ),
        case(
            "not an address",
            "POST",
            mailboxes.clone(),
            r#"{"address": "nope"}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_address", Some("address")),
        ),
        case(
            "an address on another domain",
            "POST",
            mailboxes.clone(),
            r#"{"address": "ana@gmail.example"}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_address", Some("address")),
        ),
        case(
            "a zero cap",
            "POST",
            mailboxes.clone(),
            r#"{"address": "ana@mail.acme.example", "daily_cap": 0}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_value", Some("daily_cap")),
        ),
        case(
            "a cap over the warmup table",
            "POST",
            mailboxes.clone(),
            r#"{"address": "ana@mail.acme.example", "daily_cap": 41}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_value", Some("daily_cap")),
        ),
        case(
            "a negative cap",
            "POST",
            mailboxes.clone(),
            r#"{"address": "ana@mail.acme.example", "daily_cap": -1}"#,
            (S::UNPROCESSABLE_ENTITY, "invalid_value", Some("daily_cap")),
        ),
        case(
            "warmup in the future",
            "POST",
            mailboxes.clone(),
            json!({"address": "ana@mail.acme.example", "warmup_started_at": future}).to_string(),
            (
                S::UNPROCESSABLE_ENTITY,
                "invalid_value",
                Some("warmup_started_at"),
            ),
        ),
        case(
            "a pause reason too long",
            "POST",
            format!("/v1/domains/{domain}/pause"),
            json!({"reason": "x".repeat(501)}).to_string(),
            (S::UNPROCESSABLE_ENTITY, "invalid_value", Some("reason")),
        ),
        case(
            "not a uuid",
            "POST",
            "/v1/domains/not-a-uuid/pause",
            "",
            (S::BAD_REQUEST, "invalid_path", Some("path")),
        ),
        case(
            "a mailbox id that is not a uuid",
            "POST",
            "/v1/mailboxes/42/resume",
            "",
            (S::BAD_REQUEST, "invalid_path", Some("path")),
        ),
        case(
            "an import as text",
            "POST",
            "/v1/leads/import",
            "external_id\nL1\n",
            (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("content-type"),
            ),
        )
        .content_type(Some("text/plain")),
        case(
            "an import without a content type",
            "POST",
            "/v1/leads/import",
            "{}",
            (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some("content-type"),
            ),
        )
        .content_type(None),
        case(
            "a CSV without the stage column",
            "POST",
            "/v1/leads/import",
            csv("external_id,source\nL1,x\n"),
            (S::UNPROCESSABLE_ENTITY, "missing_column", Some("stage")),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV with an unknown column",
            "POST",
            "/v1/leads/import",
            csv("external_id,source,stage,Colour\nL1,x,demo,red\n"),
            (S::UNPROCESSABLE_ENTITY, "unknown_column", Some("colour")),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV naming a column twice",
            "POST",
            "/v1/leads/import",
            csv("external_id,source,stage,source\n"),
            (S::UNPROCESSABLE_ENTITY, "repeated_column", Some("source")),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV with an unclosed quote",
            "POST",
            "/v1/leads/import",
            csv("external_id,source,stage\n\"L1,x,demo\n"),
            (S::UNPROCESSABLE_ENTITY, "malformed_csv", Some("line 2")),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV row with too few fields",
            "POST",
            "/v1/leads/import",
            csv("external_id,source,stage\nL1,x,demo\nL2,x\n"),
            (S::UNPROCESSABLE_ENTITY, "malformed_csv", Some("line 3")),
        )
        .content_type(Some("text/csv")),
        case(
            "an empty CSV",
            "POST",
            "/v1/leads/import",
            "",
            (S::UNPROCESSABLE_ENTITY, "malformed_csv", None),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV that is not UTF-8",
            "POST",
            "/v1/leads/import",
            vec![b'e', b'x', 0xff, b'\n'],
            (S::BAD_REQUEST, "invalid_encoding", None),
        )
        .content_type(Some("text/csv")),
        case(
            "a CSV with a NUL",
            "POST",
            "/v1/leads/import",
            csv("external_id,source,stage\nL\u{0}1,x,demo\n"),
            (S::UNPROCESSABLE_ENTITY, "invalid_value", None),
        )
        .content_type(Some("text/csv")),
        case(
            "a JSON import without leads",
            "POST",
            "/v1/leads/import",
            r#"{"rows": []}"#,
            (S::UNPROCESSABLE_ENTITY, "unknown_field", Some("rows")),
        ),
        case(
            "leads that are not an array",
            "POST",
            "/v1/leads/import",
            r#"{"leads": 5}"#,
            (S::UNPROCESSABLE_ENTITY, "wrong_type", Some("leads")),
        ),
        case(
            "malformed JSON import",
            "POST",
            "/v1/leads/import",
            r#"{"leads": ["#,
            (S::BAD_REQUEST, "malformed_json", None),
        ),
        case(
            "an unknown stage filter",
            "GET",
            "/v1/leads?stage=won",
            "",
            (S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("stage")),
        ),
        case(
            "a forged lead cursor",
            "GET",
            "/v1/leads?cursor=zzz",
            "",
            (S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("cursor")),
        ),
        case(
            "a zero page",
            "GET",
            "/v1/leads?limit=0",
            "",
            (S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("limit")),
        ),
        case(
            "a company that is not a uuid",
            "GET",
            "/v1/leads?company_id=7",
            "",
            (
                S::UNPROCESSABLE_ENTITY,
                "invalid_parameter",
                Some("company_id"),
            ),
        ),
        case(
            "a lead id that is not a uuid",
            "GET",
            "/v1/leads/L1",
            "",
            (S::BAD_REQUEST, "invalid_path", Some("path")),
        ),
        case(
            "a forged dry-run cursor",
            "GET",
            "/v1/dry-run?cursor=1.x",
            "",
            (S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("cursor")),
        ),
        case(
            "an unknown dry-run filter",
            "GET",
            "/v1/dry-run?channel=email",
            "",
            (
                S::UNPROCESSABLE_ENTITY,
                "unknown_parameter",
                Some("channel"),
            ),
        ),
        case(
            "an oversized dry-run page",
            "GET",
            "/v1/dry-run?limit=1000",
            "",
            (S::UNPROCESSABLE_ENTITY, "invalid_parameter", Some("limit")),
        ),
        case(
            "an unsubscribe without the one-click body",
            "POST",
            format!("/u/{token}"),
            "unsubscribe=yes",
            (S::BAD_REQUEST, "invalid_body", Some("List-Unsubscribe")),
        )
        .content_type(Some("application/x-www-form-urlencoded")),
        case(
            "an unsubscribe as JSON",
            "POST",
            format!("/u/{token}"),
            r#"{"List-Unsubscribe": "One-Click"}"#,
            (S::BAD_REQUEST, "invalid_body", Some("List-Unsubscribe")),
        ),
        case(
            "an unsubscribe with a garbage token",
            "POST",
            "/u/garbage",
            "List-Unsubscribe=One-Click",
            (S::NOT_FOUND, "not_found", Some("token")),
        )
        .content_type(Some("application/x-www-form-urlencoded")),
    ];
    assert!(cases.len() >= 8);
    for c in cases {
        let r = send_raw(&api, c.method, &c.path, Some(&a), c.content_type, c.body).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (c.status, c.code, c.field),
            "{}: {r:?}",
            c.what
        );
    }
    // none of it stored anything
    let r = api.call("GET", "/v1/leads", Some(&a), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = api.call("GET", "/v1/domains", Some(&a), None).await;
    let d = &r.body["items"][0];
    assert_eq!(
        (d["paused"].clone(), d["mailboxes"].clone()),
        (json!(false), json!([]))
    );
    let lead = api.call("GET", "/v1/leads", Some(&a), None).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call("GET", &format!("/v1/leads/{lead}"), Some(&a), None)
        .await;
    assert_eq!(r.body["suppression"]["suppressed"], false);
    api.cleanup().await;
}
