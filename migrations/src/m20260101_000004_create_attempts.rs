//! Attempts: the worker's checkpoint per task idempotency key. No foreign key to
//! `missions`: a worker only ever reads and writes its own rows.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attempts {
    Table,
    IdempotencyKey,
    MissionId,
    StepId,
    Attempt,
    Agent,
    Status,
    Output,
    Error,
    Retryable,
    Executions,
    Worker,
    StartedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Attempts::Table)
                    .if_not_exists()
                    .col(string(Attempts::IdempotencyKey).primary_key())
                    .col(uuid(Attempts::MissionId))
                    .col(string(Attempts::StepId))
                    .col(integer(Attempts::Attempt))
                    .col(string(Attempts::Agent))
                    .col(string(Attempts::Status))
                    .col(json_binary_null(Attempts::Output))
                    .col(text_null(Attempts::Error))
                    .col(boolean_null(Attempts::Retryable))
                    .col(integer(Attempts::Executions).default(0))
                    .col(text_null(Attempts::Worker))
                    .col(timestamp_with_time_zone(Attempts::StartedAt))
                    .col(timestamp_with_time_zone_null(Attempts::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_attempts_mission_id")
                    .table(Attempts::Table)
                    .col(Attempts::MissionId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Attempts::Table).if_exists().to_owned())
            .await
    }
}
