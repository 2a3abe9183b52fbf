//! `/v1/leads/{id}/export` and `/v1/leads/{id}/erase`: everything held on a lead,
//! then nothing personal; the address stays suppressed by its hash.

use axum::http::StatusCode;
use rex_api::ApiConfig;
use rex_domain::Channel;
use rex_domain_store::{
    Intent, LeadRow, NewDryRun, NewIntent, create_campaign, import_leads, is_suppressed,
    lead_by_external_id, record_dry_run, record_intent, tenant_by_slug,
};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::TestApi;

pub const EMAIL: &str = "ana.lovelace@acme.example";
const PERSONAL: [&str; 5] = [
    EMAIL,
    "+4930123456",
    "Lovelace",
    "Head of Analytics",
    "likes sailing",
];

/// A lead of tenant `acme` with personal fields, one message intent and the dry-run
/// entry of its send; returns the lead's id.
pub async fn seed_lead(api: &TestApi) -> Uuid {
    let c = api.db.store().conn();
    let now = rex_store::now();
    let tenant = tenant_by_slug(c, "acme").await.unwrap().unwrap().id;
    let row = LeadRow {
        external_id: "crm-1".into(),
        email: Some(EMAIL.into()),
        phone: Some("+4930123456".into()),
        first_name: Some("Ana".into()),
        last_name: Some("Lovelace".into()),
        title: Some("Head of Analytics".into()),
        source: "hubspot".into(),
        stage: "demo".into(),
        consent_basis: Some("legitimate_interest".into()),
        attributes: json!({"note": "likes sailing"}),
        ..Default::default()
    };
    let report = import_leads(c, tenant, &[row], now).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    let lead = lead_by_external_id(c, tenant, "crm-1")
        .await
        .unwrap()
        .unwrap()
        .id;
    let campaign = create_campaign(c, tenant, "revive", json!({}), now)
        .await
        .unwrap()
        .id;
    let Intent::New(message) = record_intent(
        c,
        &NewIntent {
            tenant_id: tenant,
            lead_id: lead,
            campaign_id: campaign,
            step_key: "touch-1".into(),
            channel: Channel::Email,
            mailbox_id: None,
            variant_id: None,
            body_hash: "h".into(),
            at: now,
        },
    )
    .await
    .unwrap() else {
        panic!("the intent existed")
    };
    record_dry_run(
        c,
        tenant,
        &NewDryRun {
            message_id: Some(message),
            provider: "sendgrid".into(),
            operation: "send_email".into(),
            recipient: EMAIL.into(),
            headers: vec![("to".into(), format!("Ana Lovelace <{EMAIL}>"))],
            rendered: "Hi Ana Lovelace, …".into(),
            at: now,
        },
    )
    .await
    .unwrap();
    lead
}

async fn export_then_erase(api: TestApi) {
    let lead = seed_lead(&api).await;
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());
    let export = format!("/v1/leads/{lead}/export");
    let erase = format!("/v1/leads/{lead}/erase");

    let r = api.call("GET", &export, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["lead"]["id"], json!(lead.to_string()));
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["dry_run"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["history"].as_array().unwrap().len(), 1);
    let text = r.body.to_string();
    for field in PERSONAL {
        assert!(
            text.contains(field),
            "{field} missing from the export: {text}"
        );
    }

    // another tenant's lead, an unknown one, other scopes, a bad id
    for path in [&export, &erase] {
        let method = if path.ends_with("export") {
            "GET"
        } else {
            "POST"
        };
        let r = api.call(method, path, Some(&b), None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
        assert!(!r.body.to_string().contains(EMAIL));
        let missing = path.replace(&lead.to_string(), &Uuid::now_v7().to_string());
        let r = api.call(method, &missing, Some(&a), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {missing}");
        for key in [&api.keys.reader, &api.keys.writer] {
            let r = api.call(method, path, Some(key), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        }
        let bad = path.replace(&lead.to_string(), "not-a-uuid");
        let r = api.call(method, &bad, Some(&a), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {bad}");
    }

    let r = api.call("POST", &erase, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["newly_erased"], json!(true));
    assert_eq!(r.body["suppressions_added"], json!(2));
    assert_eq!(r.body["dry_run_entries"], json!(1));
    assert!(!r.body.to_string().contains(EMAIL));

    let r = api.call("GET", &export, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let text = r.body.to_string();
    for field in PERSONAL {
        assert!(
            !text.contains(field),
            "{field} survived the erasure: {text}"
        );
    }
    assert!(!text.contains("Ana"), "{text}");
    assert!(r.body["lead"]["erased_at"].is_string(), "{text}");
    assert_eq!(r.body["suppressions"].as_array().unwrap().len(), 2);

    // the send path's check refuses the address, by its hash
    let c = api.db.store().conn();
    let tenant = tenant_by_slug(c, "acme").await.unwrap().unwrap().id;
    let hit = is_suppressed(c, tenant, Channel::Email, EMAIL, rex_store::now())
        .await
        .unwrap();
    assert!(hit.is_some_and(|s| s.address.is_none() && s.reason == "do_not_contact"));

    // idempotent
    let r = api.call("POST", &erase, Some(&a), None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["newly_erased"], json!(false));
    assert_eq!(r.body["suppressions_added"], json!(0));
    api.cleanup().await;
}

#[tokio::test]
async fn a_lead_is_exported_then_erased() {
    export_then_erase(TestApi::embedded(ApiConfig::default()).await).await;
}

#[tokio::test]
async fn a_lead_is_exported_then_erased_on_postgres() {
    export_then_erase(TestApi::on_postgres(ApiConfig::default()).await).await;
}
