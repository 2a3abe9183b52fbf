//! `/v1/leads`: import from CSV and JSON with a report of rejected rows, list, read
//! with history and suppression state.

use axum::http::StatusCode;
use chrono::Utc;
use rex_api::ApiConfig;
use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::NewSuppression;
use serde_json::json;

use crate::domain_fixtures::{TWO_LEADS, ids, import_csv, import_json, tenant_id};
use crate::fixtures::TestApi;

#[tokio::test]
async fn a_csv_import_stores_the_good_rows_and_reports_the_bad_ones_by_line() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    csv_scenario(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn a_csv_import_works_the_same_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    csv_scenario(&api).await;
    api.cleanup().await;
}

async fn csv_scenario(api: &TestApi) {
    let a = api.keys.a.clone();
    // line 3: a bad address; lines 4-5: one row with a quoted two-line title;
    // line 6: an unknown stage; line 7: the id of line 2 again
    let csv = "external_id,email,first_name,title,source,stage,lost_at\n\
               L1,ana@acme.example,Ana,CTO,hubspot,demo,2024-05-01T09:00:00Z\n\
               L2,not-an-address,Bo,,hubspot,demo,\n\
               L3,cy@acme.example,Cy,\"Head of\nSales, EMEA\",hubspot,proposal,\n\
               L4,di@acme.example,Di,,hubspot,won,\n\
               L1,ana2@acme.example,Ana,,hubspot,demo,\n";
    let r = import_csv(api, &a, csv).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["inserted"], 2, "{}", r.body);
    assert_eq!(r.body["updated"], 0);
    assert_eq!(r.body["rejected"], 3);
    let located: Vec<(u64, &str, &str)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["external_id"].as_str().unwrap(),
                e["field"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        located,
        [
            (3, "L2", "email"),
            (6, "L4", "stage"),
            (7, "L1", "external_id")
        ]
    );

    let r = api.call("GET", "/v1/leads", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    let external: Vec<&str> = items
        .iter()
        .map(|l| l["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(external, ["L1", "L3"]);
    assert_eq!(items[1]["title"], "Head of\nSales, EMEA");
    assert_eq!(r.body["next_cursor"], json!(null));
    let l1 = items[0]["id"].as_str().unwrap().to_owned();

    let r = api
        .call(
            "GET",
            &format!("/v1/leads/{l1}"),
            Some(&api.keys.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["email"], "ana@acme.example");
    assert_eq!(r.body["stage"], "demo");
    assert_eq!(r.body["history"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["history"][0]["kind"], "imported");
    assert_eq!(
        r.body["suppression"],
        json!({"suppressed": false, "reasons": [], "since": null, "entries": []})
    );

    // a re-import updates what changed and records it in the history
    let r = import_csv(
        api,
        &a,
        "external_id,email,first_name,source,stage\nL1,ana@acme.example,Ana,hubspot,proposal\n",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        (r.body["updated"].clone(), r.body["rejected"].clone()),
        (json!(1), json!(0))
    );
    let r = api
        .call("GET", &format!("/v1/leads/{l1}"), Some(&a), None)
        .await;
    let history = r.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["kind"], "updated");
    assert_eq!(
        history[1]["changes"]["stage"],
        json!({"old": "demo", "new": "proposal"})
    );

    // the ledger shows on the lead
    let tenant = tenant_id(api, "acme").await;
    let since = Utc::now() - chrono::Duration::minutes(1);
    rex_domain_store::suppress(
        api.db.store().conn(),
        &NewSuppression {
            tenant_id: tenant,
            channel: Channel::Email,
            address: "ANA@acme.example".into(),
            reason: SuppressionReason::Complaint,
            source_event: "sendgrid:evt-1".into(),
            at: since,
        },
    )
    .await
    .unwrap();
    let r = api
        .call("GET", &format!("/v1/leads/{l1}"), Some(&a), None)
        .await;
    let s = &r.body["suppression"];
    assert_eq!(s["suppressed"], true, "{s}");
    assert_eq!(s["reasons"], json!(["complaint"]));
    assert!(s["since"].is_string(), "{s}");
    assert_eq!(s["entries"][0]["channel"], "email");
    assert_eq!(s["entries"][0]["source_event"], "sendgrid:evt-1");
}

#[tokio::test]
async fn a_json_import_numbers_rows_by_their_place_in_the_array() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let a = api.keys.a.clone();
    let r = import_json(
        &api,
        &a,
        json!([
            {"external_id": "J1", "email": "ana@acme.example", "source": "api", "stage": "sql",
             "consent": {"email": "granted", "sms": "unknown", "linkedin": "unknown"},
             "attributes": {"deal_size": 12000}},
            {"external_id": "J2", "source": "api", "stage": "sql", "colour": "red"},
            {"external_id": "J3", "source": "api", "stage": "sql", "country": "XX"},
            "not a row",
            {"external_id": "J5", "source": "api", "stage": "lead", "phone": "+1 (234) 901-3030"}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["inserted"], 2);
    let located: Vec<(u64, &str)> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(located, [(2, "colour"), (3, "country"), (4, "")]);
    let r = api.call("GET", "/v1/leads?stage=sql", Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["consent"]["email"], "granted");
    assert_eq!(items[0]["attributes"], json!({"deal_size": 12000}));
    api.cleanup().await;
}

#[tokio::test]
async fn leads_are_paged_with_a_cursor_and_filtered() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let a = api.keys.a.clone();
    let r = import_csv(
        &api,
        &a,
        "external_id,source,stage\nP1,x,demo\nP2,x,lead\nP3,x,demo\n",
    )
    .await;
    assert_eq!(r.body["inserted"], 3, "{r:?}");
    let first = api.call("GET", "/v1/leads?limit=2", Some(&a), None).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = api
        .call(
            "GET",
            &format!("/v1/leads?limit=2&cursor={cursor}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(second.body["items"][0]["external_id"], "P3");
    assert_eq!(second.body["next_cursor"], json!(null));
    let all: Vec<String> = [ids(&first), ids(&second)].concat();
    assert_eq!(all.len(), 3);
    let demo = api
        .call("GET", "/v1/leads?stage=DEMO", Some(&a), None)
        .await;
    let external: Vec<&str> = demo.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(external, ["P1", "P3"]);
    api.cleanup().await;
}

#[tokio::test]
async fn a_csv_without_a_required_column_is_refused_whole_and_stores_nothing() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let a = api.keys.a.clone();
    let r = import_csv(
        &api,
        &a,
        "external_id,email,source\nL1,ana@acme.example,x\n",
    )
    .await;
    assert_eq!(
        (r.status, r.code(), r.body["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_column",
            Some("stage")
        ),
        "{r:?}"
    );
    assert!(r.body["message"].as_str().unwrap().contains("stage"));
    let r = api.call("GET", "/v1/leads", Some(&a), None).await;
    assert_eq!(r.body["items"], json!([]));
    api.cleanup().await;
}

#[tokio::test]
async fn an_import_over_the_row_limit_is_refused_whole() {
    let api = TestApi::embedded(ApiConfig {
        max_import_rows: 1,
        ..ApiConfig::default()
    })
    .await;
    let a = api.keys.a.clone();
    let r = import_csv(&api, &a, TWO_LEADS).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_rows"),
        "{r:?}"
    );
    let rows = json!([{"external_id": "a", "source": "x", "stage": "lead"},
                      {"external_id": "b", "source": "x", "stage": "lead"}]);
    let r = import_json(&api, &a, rows).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_rows"),
        "{r:?}"
    );
    let r = api.call("GET", "/v1/leads", Some(&a), None).await;
    assert_eq!(r.body["items"], json!([]));
    api.cleanup().await;
}
