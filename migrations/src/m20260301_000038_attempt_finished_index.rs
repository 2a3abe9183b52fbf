//! `GET /v1/agents` and the queue-age gauge read the unfinished task steps (`WHERE
//! status = 'running'`) and count the attempts that finished in the last minutes
//! (`WHERE finished_at >= …`); without these indexes both read every row ever written.
//! The steps index is partial (both PostgreSQL and SQLite have them): running steps are
//! a sliver of the table and the only ones these reads want.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attempts {
    Table,
    FinishedAt,
}

const NAME: &str = "ix_attempts_finished_at";
const RUNNING_STEPS: &str = "CREATE INDEX IF NOT EXISTS ix_steps_running ON steps (mission_id, step_id) WHERE status = 'running'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(Attempts::Table)
                    .col(Attempts::FinishedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(RUNNING_STEPS)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_steps_running")
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(NAME)
                    .table(Attempts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
