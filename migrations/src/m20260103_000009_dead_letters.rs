//! Dead letters: tasks and results the broker gave up on (past the delivery limit, or
//! rejected by a consumer), moved here by the orchestrator so that an operator can see
//! them with their error and replay them.
//!
//! `message_id` (the task's idempotency key) is unique: the broker delivers a dead
//! letter at least once, and recording it twice must leave one row. Mission, step and
//! attempt are nullable because a malformed message may lack them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeadLetters {
    Table,
    Id,
    MissionId,
    StepId,
    Attempt,
    Destination,
    MessageId,
    Payload,
    Headers,
    Reason,
    Error,
    Deaths,
    DeadAt,
    ReplayedAt,
    ReplayCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeadLetters::Table)
                    .if_not_exists()
                    .col(uuid(DeadLetters::Id).primary_key())
                    .col(uuid_null(DeadLetters::MissionId))
                    .col(string_null(DeadLetters::StepId))
                    .col(integer_null(DeadLetters::Attempt))
                    .col(string(DeadLetters::Destination))
                    .col(string(DeadLetters::MessageId))
                    .col(json_binary(DeadLetters::Payload))
                    .col(json_binary(DeadLetters::Headers))
                    .col(string(DeadLetters::Reason))
                    .col(text_null(DeadLetters::Error))
                    .col(integer(DeadLetters::Deaths).default(1))
                    .col(timestamp_with_time_zone(DeadLetters::DeadAt))
                    .col(timestamp_with_time_zone_null(DeadLetters::ReplayedAt))
                    .col(integer(DeadLetters::ReplayCount).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_dead_letters_message_id")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::MessageId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_dead_letters_dead_at")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::DeadAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_dead_letters_mission_id")
                    .table(DeadLetters::Table)
                    .col(DeadLetters::MissionId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(DeadLetters::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
