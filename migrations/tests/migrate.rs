//! The migrations run, re-run and roll back on SQLite; `rex-store`'s suite runs the
//! same schema on PostgreSQL and SQLite through the store.

use rex_migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};

async fn memory() -> DatabaseConnection {
    Database::connect("sqlite::memory:")
        .await
        .expect("in-memory sqlite")
}

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        ))
        .await
        .expect("list tables");
    rows.iter()
        .map(|r| r.try_get::<String>("", "name").expect("name"))
        .collect()
}

#[tokio::test]
async fn migrations_apply_twice_and_roll_back() {
    let db = memory().await;
    Migrator::up(&db, None).await.expect("first up");
    Migrator::up(&db, None).await.expect("second up is a no-op");
    assert_eq!(
        tables(&db).await,
        [
            "api_keys",
            "api_rate_buckets",
            "attempts",
            "audit_log",
            "campaigns",
            "channel_usage",
            "companies",
            "dead_letters",
            "definitions",
            "delivery_events",
            "dry_run_log",
            "enrichment_cache",
            "experiments",
            "icp_profiles",
            "lead_history",
            "leads",
            "mailbox_usage",
            "mailboxes",
            "messages",
            "mission_keys",
            "mission_parents",
            "missions",
            "outbox",
            "seaql_migrations",
            "sending_domains",
            "signals",
            "steps",
            "suppressions",
            "tenant_secrets",
            "tenants",
            "timers",
            "variants",
            "webhook_receipts",
        ]
    );
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );

    Migrator::down(&db, None).await.expect("down");
    assert_eq!(tables(&db).await, ["seaql_migrations"]);
    Migrator::up(&db, None).await.expect("up after down");
    assert_eq!(tables(&db).await.len(), 33);
}
