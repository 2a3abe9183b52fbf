//! Row-level security on `missions` (PostgreSQL only): the second wall behind the HTTP
//! API's tenant filter.
//!
//! The API opens each tenant's reads with `set_config('app.tenant_id', <slug>, true)`
//! (the parameterised form of `SET LOCAL`), and the policy then shows and lets it write
//! only that tenant's rows, even if a query forgot its `tenant_id` filter. A session
//! that never set it (the orchestrator, the workers, the CLI) sees every row: they
//! serve every tenant. `FORCE` makes the policy bind the tables' owner too; superusers
//! and `BYPASSRLS` roles are never bound, so production runs the API as a plain role.
//!
//! SQLite has no row-level security; there the application filter is the only wall.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
ALTER TABLE missions ENABLE ROW LEVEL SECURITY;
ALTER TABLE missions FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS missions_tenant_isolation ON missions;
CREATE POLICY missions_tenant_isolation ON missions
    USING (coalesce(current_setting('app.tenant_id', true), '') = ''
           OR tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (coalesce(current_setting('app.tenant_id', true), '') = ''
           OR tenant_id = current_setting('app.tenant_id', true));
";

const DOWN: &str = "
DROP POLICY IF EXISTS missions_tenant_isolation ON missions;
ALTER TABLE missions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE missions DISABLE ROW LEVEL SECURITY;
";

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
