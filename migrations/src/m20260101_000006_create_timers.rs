//! Timers: durable delays, timeouts and retry back-offs, fired by the orchestrator.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Timers {
    Table,
    Id,
    MissionId,
    Kind,
    StepId,
    Attempt,
    DueAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Timers::Table)
                    .if_not_exists()
                    .col(pk_uuid(Timers::Id))
                    .col(uuid(Timers::MissionId))
                    .col(string(Timers::Kind))
                    .col(string_null(Timers::StepId))
                    .col(integer_null(Timers::Attempt))
                    .col(timestamp_with_time_zone(Timers::DueAt))
                    .col(timestamp_with_time_zone(Timers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_timers_due_at")
                    .table(Timers::Table)
                    .col(Timers::DueAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // a finished or cancelled mission drops all its timers at once
        manager
            .create_index(
                Index::create()
                    .name("ix_timers_mission_id")
                    .table(Timers::Table)
                    .col(Timers::MissionId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Timers::Table).if_exists().to_owned())
            .await
    }
}
