//! Tenant isolation of the domain resources: acme cannot list, read, pause or add to
//! globex's domains, mailboxes, leads or dry-run entries (404, or absent from lists),
//! and on PostgreSQL row-level security hides them even from a query without a filter.

use std::panic::AssertUnwindSafe;

use axum::http::StatusCode;
use futures::FutureExt;
use rex_api::ApiConfig;
use rex_store::{DbBackend, Store};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::domain_fixtures::{add_domain, add_mailbox, dry_run_entry, ids, import_csv};
use crate::fixtures::TestApi;

struct Theirs {
    domain: Uuid,
    mailbox: Uuid,
    lead: String,
    entry: Uuid,
}

/// globex's resources, and one of each for acme.
async fn two_tenants(api: &TestApi) -> Theirs {
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());
    let domain = add_domain(api, &b, "mail.globex.example").await;
    let mailbox = add_mailbox(api, &b, domain, "hank@mail.globex.example").await;
    let r = import_csv(
        api,
        &b,
        "external_id,email,source,stage\nG1,hank@globex.example,x,demo\n",
    )
    .await;
    assert_eq!(r.body["inserted"], 1, "{r:?}");
    let r = api.call("GET", "/v1/leads", Some(&b), None).await;
    let lead = r.body["items"][0]["id"].as_str().unwrap().to_owned();
    let entry = dry_run_entry(api, "globex", "sendgrid", "hank@globex.example").await;

    let ours = add_domain(api, &a, "mail.acme.example").await;
    add_mailbox(api, &a, ours, "ana@mail.acme.example").await;
    import_csv(
        api,
        &a,
        "external_id,email,source,stage\nA1,ana@acme.example,x,demo\n",
    )
    .await;
    dry_run_entry(api, "acme", "sendgrid", "ana@acme.example").await;
    Theirs {
        domain,
        mailbox,
        lead,
        entry,
    }
}

#[tokio::test]
async fn another_tenants_domain_resources_are_not_found_for_every_verb() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    matrix(&api).await;
    api.cleanup().await;
}

#[tokio::test]
async fn another_tenants_domain_resources_are_not_found_on_postgres() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    matrix(&api).await;
    api.cleanup().await;
}

async fn matrix(api: &TestApi) {
    let theirs = two_tenants(api).await;
    let a = api.keys.a.clone();
    let (domain, mailbox, lead, entry) =
        (theirs.domain, theirs.mailbox, &theirs.lead, theirs.entry);
    let cases = [
        (
            "POST",
            format!("/v1/domains/{domain}/pause"),
            Some(json!({"reason": "x"})),
        ),
        ("POST", format!("/v1/domains/{domain}/resume"), None),
        (
            "POST",
            format!("/v1/domains/{domain}/mailboxes"),
            Some(json!({"address": "eve@mail.globex.example"})),
        ),
        ("POST", format!("/v1/mailboxes/{mailbox}/pause"), None),
        ("POST", format!("/v1/mailboxes/{mailbox}/resume"), None),
        ("GET", format!("/v1/leads/{lead}"), None),
        ("GET", format!("/v1/dry-run/{entry}"), None),
    ];
    for (method, path, body) in cases {
        let r = api.call(method, &path, Some(&a), body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}: {r:?}"
        );
        // exactly the answer of an id that does not exist
        let missing = path
            .replace(&domain.to_string(), &Uuid::now_v7().to_string())
            .replace(&mailbox.to_string(), &Uuid::now_v7().to_string())
            .replace(lead, &Uuid::now_v7().to_string())
            .replace(&entry.to_string(), &Uuid::now_v7().to_string());
        let m = api.call(method, &missing, Some(&a), body).await;
        assert_eq!(m.status, StatusCode::NOT_FOUND, "{method} {missing}");
    }
    // absent from acme's lists
    let r = api.call("GET", "/v1/domains", Some(&a), None).await;
    let listed = r.body.to_string();
    assert_eq!(ids(&r).len(), 1);
    assert!(!listed.contains("globex"), "{listed}");
    let r = api.call("GET", "/v1/leads", Some(&a), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert!(!r.body.to_string().contains("globex"));
    let r = api.call("GET", "/v1/dry-run", Some(&a), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert!(!r.body.to_string().contains("globex"));

    // nothing happened to globex's: not paused, no mailbox added
    let r = api
        .call("GET", "/v1/domains", Some(&api.keys.b), None)
        .await;
    let d = &r.body["items"][0];
    assert_eq!(d["paused"], false);
    assert_eq!(d["mailboxes"].as_array().unwrap().len(), 1);
    assert_eq!(d["mailboxes"][0]["paused"], false);
}

#[tokio::test]
async fn row_level_security_hides_other_tenants_domain_rows_from_an_unfiltered_query() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    let role = format!("rex_rls_{}", Uuid::new_v4().simple());
    let result = AssertUnwindSafe(rls_scenario(&api, &role))
        .catch_unwind()
        .await;
    api.cleanup().await;
    let admin = Store::connect(&rex_store::testing::admin_url(), 1)
        .await
        .unwrap();
    admin
        .conn()
        .execute_unprepared(&format!("DROP ROLE IF EXISTS \"{role}\""))
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

const TABLES: [&str; 5] = [
    "sending_domains",
    "mailboxes",
    "leads",
    "lead_history",
    "dry_run_log",
];

/// How many rows of `table` a query without any tenant filter sees, with
/// `app.tenant_id` set to `tenant` (or never set).
async fn visible(store: &Store, tenant: Option<&str>, table: &str) -> usize {
    let txn = store.conn().begin().await.unwrap();
    if let Some(tenant) = tenant {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant.into()],
        ))
        .await
        .unwrap();
    }
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT id FROM {table}"),
        ))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    rows.len()
}

async fn rls_scenario(api: &TestApi, role: &str) {
    let theirs = two_tenants(api).await;
    let owner = api.db.store().conn();
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS; \
             GRANT SELECT ON tenants TO \"{role}\"; \
             GRANT SELECT, UPDATE ON {} TO \"{role}\";",
            TABLES.join(", ")
        ))
        .await
        .unwrap();
    let url = api
        .db
        .url()
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    assert_ne!(
        url,
        api.db.url(),
        "the test database url names the postgres user"
    );
    let plain = Store::connect(&url, 1).await.unwrap();
    for table in TABLES {
        assert_eq!(
            visible(&plain, Some("acme"), table).await,
            1,
            "{table} as acme"
        );
        assert_eq!(
            visible(&plain, Some("globex"), table).await,
            1,
            "{table} as globex"
        );
        assert_eq!(
            visible(&plain, Some("initech"), table).await,
            0,
            "{table} as initech"
        );
        // a session that names no tenant (the workers) serves them all
        assert_eq!(visible(&plain, None, table).await, 2, "{table} unset");
    }
    // nor can acme pause globex's domain, even by id
    let txn = plain.conn().begin().await.unwrap();
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        ["acme".into()],
    ))
    .await
    .unwrap();
    let updated = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE sending_domains SET paused = true WHERE id = $1",
            [theirs.domain.into()],
        ))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let r = api
        .call("GET", "/v1/domains", Some(&api.keys.b), None)
        .await;
    assert_eq!(r.body["items"][0]["paused"], false);
    let _ = plain.close().await;
}
