//! `rex_mission_timeline(tenant, mission)` (PostgreSQL only): a mission's page — the
//! mission, its steps, attempts and timers — read in one round trip.
//!
//! `GET /v1/missions/{id}` is the API's hottest read. Done as separate statements it
//! costs seven round trips (BEGIN, the tenant setting, four reads, COMMIT); this
//! function does the same work inside the server. It names the tenant first
//! (`set_config('app.tenant_id', tenant, true)`: local to the calling statement's
//! transaction, so nothing leaks to the pooled connection), then reads, so the
//! row-level security policy of migration 000032 binds its reads exactly as it binds
//! the API's transactions: `SECURITY INVOKER`, the caller's rights and policies. It
//! answers NULL when the mission is not the tenant's or does not exist, else
//! `{mission, steps, attempts, timers}` with each row as `to_jsonb` spells it (column
//! names as keys) in the order the API shows them.
//!
//! SQLite has no stored functions; there the API reads in one transaction.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r#"
CREATE OR REPLACE FUNCTION rex_mission_timeline(tenant text, mission uuid)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE -- it sets app.tenant_id
SECURITY INVOKER
AS $$
DECLARE
    found jsonb;
BEGIN
    PERFORM set_config('app.tenant_id', tenant, true);
    SELECT to_jsonb(m) INTO found
      FROM missions m
     WHERE m.id = mission AND m.tenant_id = tenant;
    IF found IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object(
        'mission', found,
        'steps', coalesce(
            (SELECT jsonb_agg(s ORDER BY s.step_id) FROM steps s WHERE s.mission_id = mission),
            '[]'::jsonb),
        'attempts', coalesce(
            (SELECT jsonb_agg(a ORDER BY a.started_at, a.attempt)
               FROM attempts a WHERE a.mission_id = mission),
            '[]'::jsonb),
        'timers', coalesce(
            (SELECT jsonb_agg(t ORDER BY t.due_at) FROM timers t WHERE t.mission_id = mission),
            '[]'::jsonb));
END
$$;
"#;

const DOWN: &str = "DROP FUNCTION IF EXISTS rex_mission_timeline(text, uuid);";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
