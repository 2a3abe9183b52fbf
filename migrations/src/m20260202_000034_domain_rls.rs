//! Row-level security on the domain tables (PostgreSQL only): the second wall behind
//! the HTTP API's tenant filter on leads, sending domains, mailboxes, the dry-run log
//! and every other table that carries a tenant.
//!
//! Like `missions` (migration 000032), the API names its tenant with
//! `set_config('app.tenant_id', <slug>, true)`. The domain tables are keyed by the
//! tenant's UUID (`tenants.id`), so each policy maps the slug through `tenants.slug`
//! (chosen over a second setting with the UUID: `tenancy::begin` stays one statement
//! and one setting, and a slug with no tenant row yet matches nothing). A session that
//! never set it (the orchestrator, the workers, the agents, the CLI) sees every row.
//! `tenants` itself has no policy: it holds no tenant's data but names. Foreign-key
//! checks bypass row security, as PostgreSQL always does.
//!
//! SQLite has no row-level security; there the application filter is the only wall.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table with a `tenant_id` column referencing `tenants.id`.
pub const TABLES: [&str; 16] = [
    "companies",
    "leads",
    "lead_history",
    "sending_domains",
    "mailboxes",
    "mailbox_usage",
    "channel_usage",
    "campaigns",
    "messages",
    "delivery_events",
    "suppressions",
    "enrichment_cache",
    "icp_profiles",
    "experiments",
    "variants",
    "dry_run_log",
];

const CONDITION: &str = "coalesce(current_setting('app.tenant_id', true), '') = '' \
     OR tenant_id = (SELECT t.id FROM tenants t \
                     WHERE t.slug = current_setting('app.tenant_id', true))";

fn up_sql() -> String {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n\
                 ALTER TABLE {t} FORCE ROW LEVEL SECURITY;\n\
                 DROP POLICY IF EXISTS {t}_tenant_isolation ON {t};\n\
                 CREATE POLICY {t}_tenant_isolation ON {t}\n    \
                 USING ({CONDITION})\n    WITH CHECK ({CONDITION});\n"
            )
        })
        .collect()
}

fn down_sql() -> String {
    TABLES
        .iter()
        .map(|t| {
            format!(
                "DROP POLICY IF EXISTS {t}_tenant_isolation ON {t};\n\
                 ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY;\n\
                 ALTER TABLE {t} DISABLE ROW LEVEL SECURITY;\n"
            )
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&up_sql())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&down_sql())
            .await?;
        Ok(())
    }
}
