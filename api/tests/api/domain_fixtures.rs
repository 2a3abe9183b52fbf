//! What the domain resources' tests share: CSV and JSON imports, domains and mailboxes
//! added through the API, and store rows the API only reads (dry-run entries, sent
//! messages).

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use rex_domain::Channel;
use rex_domain_store::{NewDryRun, NewIntent, ensure_tenant};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::{Resp, TestApi};

/// Two good leads of acme's CRM, as CSV.
pub const TWO_LEADS: &str = "external_id,email,first_name,source,stage,country\n\
                             L1,ana@acme.example,Ana,hubspot,demo,DE\n\
                             L2,bo@acme.example,Bo,hubspot,proposal,US\n";

/// A request with a body of `content_type`, with `key` (or none).
pub async fn send_raw(
    api: &TestApi,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    api.send(req.body(body.into()).expect("a request")).await
}

pub async fn import_csv(api: &TestApi, key: &str, csv: &str) -> Resp {
    send_raw(
        api,
        "POST",
        "/v1/leads/import",
        Some(key),
        Some("text/csv; charset=utf-8"),
        csv.to_owned(),
    )
    .await
}

pub async fn import_json(api: &TestApi, key: &str, leads: Value) -> Resp {
    api.call(
        "POST",
        "/v1/leads/import",
        Some(key),
        Some(json!({"leads": leads})),
    )
    .await
}

/// Adds a sending domain; its id.
pub async fn add_domain(api: &TestApi, key: &str, domain: &str) -> Uuid {
    let r = api
        .call(
            "POST",
            "/v1/domains",
            Some(key),
            Some(json!({"domain": domain})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.id()
}

/// Adds a mailbox to a domain; its id.
pub async fn add_mailbox(api: &TestApi, key: &str, domain: Uuid, address: &str) -> Uuid {
    let r = api
        .call(
            "POST",
            &format!("/v1/domains/{domain}/mailboxes"),
            Some(key),
            Some(json!({"address": address})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.id()
}

/// The domain tables' id of the tenant `slug` (created if needed).
pub async fn tenant_id(api: &TestApi, slug: &str) -> Uuid {
    ensure_tenant(api.db.store().conn(), slug, Utc::now())
        .await
        .expect("the tenant")
        .id
}

/// Records what a stand-in would have sent for `slug`, as the send path does.
pub async fn dry_run_entry(api: &TestApi, slug: &str, provider: &str, recipient: &str) -> Uuid {
    let tenant = tenant_id(api, slug).await;
    rex_domain_store::record_dry_run(
        api.db.store().conn(),
        tenant,
        &NewDryRun {
            message_id: None,
            provider: provider.to_owned(),
            operation: "send_email".to_owned(),
            recipient: recipient.to_owned(),
            headers: vec![("List-Unsubscribe".to_owned(), "<https://x/u/t>".to_owned())],
            rendered: format!("Hello {recipient}"),
            at: Utc::now(),
        },
    )
    .await
    .expect("recording a dry-run entry")
    .id
}

/// Records the intent of an email to the lead `external_id` of `slug` as `step_key`
/// (the `<mission>:<step>` an unsubscribe token names), as the send path does.
pub async fn sent_email(api: &TestApi, slug: &str, external_id: &str, step_key: &str) -> Uuid {
    let c = api.db.store().conn();
    let tenant = tenant_id(api, slug).await;
    let lead = rex_domain_store::lead_by_external_id(c, tenant, external_id)
        .await
        .unwrap()
        .expect("the lead was imported");
    let campaign = match rex_domain_store::campaign_by_name(c, tenant, "revival")
        .await
        .unwrap()
    {
        Some(c) => c,
        None => rex_domain_store::create_campaign(c, tenant, "revival", json!({}), Utc::now())
            .await
            .unwrap(),
    };
    rex_domain_store::record_intent(
        c,
        &NewIntent {
            tenant_id: tenant,
            lead_id: lead.id,
            campaign_id: campaign.id,
            step_key: step_key.to_owned(),
            channel: Channel::Email,
            mailbox_id: None,
            variant_id: None,
            body_hash: "h".to_owned(),
            at: Utc::now(),
        },
    )
    .await
    .expect("recording the intent");
    tenant
}

/// The ids of a listing's `items`.
pub fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {r:?}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}
