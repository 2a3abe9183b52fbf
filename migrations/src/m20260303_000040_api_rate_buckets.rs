//! `api_rate_buckets`: each API key's token bucket, shared by every API replica.
//!
//! A replica limits requests from its own memory (no round trip per request) and, a
//! few times a second, adds what it let through to the key's row here and takes back
//! the bucket as all replicas left it (`rex_api`'s `ratelimit` module). `tokens` is the
//! bucket's content at `refilled_at` (seconds since the Unix epoch); it may be below
//! zero when replicas together let through more than the bucket held between two
//! syncs, which then delays the key's next requests by as much. A row whose bucket
//! has refilled completely is the same as no row and is deleted.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS api_rate_buckets (
    key_id uuid PRIMARY KEY,
    tokens double precision NOT NULL,
    refilled_at double precision NOT NULL
)";
const UP_SQLITE: &str = "CREATE TABLE IF NOT EXISTS api_rate_buckets (
    key_id BLOB PRIMARY KEY,
    tokens REAL NOT NULL,
    refilled_at REAL NOT NULL
)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Sqlite => UP_SQLITE,
            _ => UP_POSTGRES,
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS api_rate_buckets")
            .await?;
        Ok(())
    }
}
