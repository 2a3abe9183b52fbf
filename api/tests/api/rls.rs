//! PostgreSQL's row-level security on `missions`: the wall behind the API's filter.

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use rex_api::ApiConfig;
use rex_store::{DbBackend, Store};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{TestApi, WAITER};

#[tokio::test]
async fn row_level_security_hides_other_tenants_missions_from_an_unfiltered_query() {
    let api = TestApi::on_postgres(ApiConfig::default()).await;
    let role = format!("rex_rls_{}", Uuid::new_v4().simple());
    let result = AssertUnwindSafe(scenario(&api, &role)).catch_unwind().await;
    api.cleanup().await;
    // the role outlives the test database otherwise
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

/// The ids a query without any tenant filter sees, with `app.tenant_id` set to
/// `tenant` (or never set).
async fn visible(store: &Store, tenant: Option<&str>) -> Vec<Uuid> {
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
            "SELECT id FROM missions ORDER BY id",
        ))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").unwrap())
        .collect()
}

/// Whether `rex_mission_timeline(tenant, id)` found the mission.
async fn timeline(store: &Store, tenant: &str, id: Uuid) -> bool {
    let row = store
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT rex_mission_timeline($1, $2) IS NOT NULL AS found",
            [tenant.into(), id.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<bool>("", "found").unwrap()
}

async fn scenario(api: &TestApi, role: &str) {
    api.push(WAITER).await;
    let ours = api.start(&api.keys.a, "waiter", json!({})).await;
    let theirs = api.start(&api.keys.b, "waiter", json!({})).await;

    // the API as a plain role (the superuser of the tests bypasses every policy)
    let owner = api.db.store().conn();
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS; \
             GRANT SELECT, UPDATE ON missions TO \"{role}\"; \
             GRANT SELECT ON steps, attempts, timers TO \"{role}\";"
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

    assert_eq!(visible(&plain, Some("acme")).await, [ours]);
    assert_eq!(visible(&plain, Some("globex")).await, [theirs]);
    assert_eq!(visible(&plain, Some("initech")).await, Vec::<Uuid>::new());
    // a session that names no tenant (the orchestrator) serves them all
    let mut all = vec![ours, theirs];
    all.sort();
    assert_eq!(visible(&plain, None).await, all);

    // the mission page's one-statement read (migration 000039) keeps to the tenant it
    // names, and leaves no tenant set on the pooled connection
    assert!(timeline(&plain, "acme", ours).await);
    assert!(!timeline(&plain, "acme", theirs).await);
    assert!(timeline(&plain, "globex", theirs).await);
    let after = plain
        .conn()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT coalesce(current_setting('app.tenant_id', true), '') AS tenant",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.try_get::<String>("", "tenant").unwrap(), "");

    // nor can acme write globex's row, even by id
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
            "UPDATE missions SET status = 'failed' WHERE id = $1",
            [theirs.into()],
        ))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let r = api
        .call(
            "GET",
            &format!("/v1/missions/{theirs}"),
            Some(&api.keys.b),
            None,
        )
        .await;
    assert_eq!(r.body["status"], json!("running"));
    let _ = plain.close().await;
}
