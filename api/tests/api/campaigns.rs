//! `/v1/campaigns`: the tenant's campaigns and a report computed from the stored sends
//! and provider events; another tenant's campaign is not found.

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use rex_api::ApiConfig;
use rex_domain::Channel;
use rex_domain_store::{
    Intent, NewDeliveryEvent, NewIntent, Receipt, ReceiptStatus, create_campaign,
    lead_by_external_id, record_delivery_event, record_intent, record_receipt,
};
use serde_json::json;
use uuid::Uuid;

use crate::domain_fixtures::{TWO_LEADS, import_csv, tenant_id};
use crate::fixtures::TestApi;

/// Campaign `q1` of acme: a message to each of its two leads, both sent and
/// delivered; L1 replies positively and books a meeting, L2 bounces hard.
async fn seed(api: &TestApi) {
    let r = import_csv(api, &api.keys.a, TWO_LEADS).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let c = api.db.store().conn();
    let tenant = tenant_id(api, "acme").await;
    let campaign = create_campaign(c, tenant, "q1", json!({}), Utc::now())
        .await
        .unwrap();
    let sent_at = Utc::now() - Duration::days(2);
    let mut n = 0;
    let mut event = |message: Uuid, kind: &str, payload: serde_json::Value, after: i64| {
        n += 1;
        NewDeliveryEvent {
            tenant_id: tenant,
            provider: "sendgrid".to_owned(),
            provider_event_id: format!("ev-{n}"),
            message_id: Some(message),
            provider_message_id: None,
            kind: kind.to_owned(),
            address_hash: None,
            payload,
            occurred_at: sent_at + Duration::minutes(after),
            received_at: Utc::now(),
        }
    };
    let mut events = Vec::new();
    for (external, outcomes) in [
        (
            "L1",
            vec![
                ("delivered", json!({})),
                ("reply", json!({"positive": true})),
                ("meeting_booked", json!({})),
            ],
        ),
        ("L2", vec![("bounce", json!({"bounce_type": "hard"}))]),
    ] {
        let lead = lead_by_external_id(c, tenant, external)
            .await
            .unwrap()
            .unwrap();
        let Intent::New(id) = record_intent(
            c,
            &NewIntent {
                tenant_id: tenant,
                lead_id: lead.id,
                campaign_id: campaign.id,
                step_key: format!("m:{external}"),
                channel: Channel::Email,
                mailbox_id: None,
                variant_id: None,
                body_hash: "h".to_owned(),
                at: sent_at,
            },
        )
        .await
        .unwrap() else {
            panic!("a new intent")
        };
        record_receipt(
            c,
            tenant,
            id,
            &Receipt {
                provider_message_id: Some(format!("p-{external}")),
                status: ReceiptStatus::Sent,
                detail: None,
                at: sent_at,
            },
        )
        .await
        .unwrap();
        for (i, (kind, payload)) in outcomes.into_iter().enumerate() {
            events.push(event(id, kind, payload, 5 + 60 * i as i64));
        }
    }
    for e in &events {
        assert!(record_delivery_event(c, e).await.unwrap());
    }
}

#[tokio::test]
async fn a_campaign_report_counts_the_stored_sends_and_events() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    report_scenario(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn a_campaign_report_is_the_same_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    report_scenario(&api).await;
    api.cleanup().await;
}

async fn report_scenario(api: &TestApi) {
    seed(api).await;
    let list = api
        .call("GET", "/v1/campaigns", Some(&api.keys.a), None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(list.body["items"][0]["name"], "q1");
    assert_eq!(list.body["items"][0]["status"], "active");

    let r = api
        .call(
            "GET",
            "/v1/campaigns/q1/report",
            Some(&api.keys.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["campaign"], "q1");
    assert_eq!(r.body["messages"], 2);
    assert_eq!(
        r.body["funnel"],
        json!({"sent": 2, "delivered": 1, "replied": 1, "positive": 1, "booked": 1, "unsubscribed": 0, "bounced": 1})
    );
    assert_eq!(r.body["rates"]["bounce"], 0.5);
    assert_eq!(r.body["rates"]["positive_reply"], 1.0);
    assert_eq!(r.body["bucket"], "day");
    let trends = r.body["trends"].as_array().unwrap();
    assert_eq!(trends.len(), 1);
    assert_eq!(trends[0]["metrics"]["sent"], 2);
    assert_eq!(r.body["experiment"]["verdict"], "no_winner");
    assert!(r.body["variants"].as_array().unwrap().is_empty());
    // a 50% bounce rate asks for fresh data
    let kinds: Vec<&str> = r.body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"re_enrich_stale_data"), "{kinds:?}");

    let weekly = api
        .call(
            "GET",
            "/v1/campaigns/q1/report?bucket=week",
            Some(&api.keys.a),
            None,
        )
        .await;
    assert_eq!(weekly.body["bucket"], "week");
    let bad = api
        .call(
            "GET",
            "/v1/campaigns/q1/report?bucket=hour",
            Some(&api.keys.a),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "bucket");
}

#[tokio::test]
async fn another_tenants_campaign_is_not_found_and_not_listed() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    seed(&api).await;
    let b = api.keys.b.clone();
    let r = api
        .call("GET", "/v1/campaigns/q1/report", Some(&b), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert_eq!(r.code(), "not_found");
    let list = api.call("GET", "/v1/campaigns", Some(&b), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["items"], json!([]));
    let missing = api
        .call("GET", "/v1/campaigns/nope/report", Some(&api.keys.a), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let no_scope = api
        .call("GET", "/v1/campaigns", Some(&api.keys.writer), None)
        .await;
    assert_eq!(no_scope.status, StatusCode::FORBIDDEN);
    api.cleanup().await;
}
