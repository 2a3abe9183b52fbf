//! Signals and correlation keys (multi-day missions), and the retry base of steps.
//!
//! - `signals`: every signal a mission received, deduplicated by the sender's id, with
//!   the step (or `on_signal`) that used it; unused ones are the mission's buffer for a
//!   later `wait_for`.
//! - `mission_keys`: the correlation keys a mission listens on (`lead:42`); an event
//!   published to a key becomes a signal of each running mission that has it.
//! - `steps.retry_base`: the attempt number before a mission retry, so a retried step
//!   gets its full retry budget while attempt numbers keep growing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Signals {
    Table,
    MissionId,
    SignalId,
    Name,
    Payload,
    ReceivedAt,
    ConsumedBy,
}

#[derive(DeriveIden)]
enum MissionKeys {
    Table,
    Key,
    MissionId,
}

#[derive(DeriveIden)]
enum Steps {
    Table,
    RetryBase,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Signals::Table)
                    .if_not_exists()
                    .col(uuid(Signals::MissionId))
                    .col(string(Signals::SignalId))
                    .col(string(Signals::Name))
                    .col(json_binary(Signals::Payload))
                    .col(timestamp_with_time_zone(Signals::ReceivedAt))
                    .col(text_null(Signals::ConsumedBy))
                    .primary_key(
                        Index::create()
                            .col(Signals::MissionId)
                            .col(Signals::SignalId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MissionKeys::Table)
                    .if_not_exists()
                    .col(string(MissionKeys::Key))
                    .col(uuid(MissionKeys::MissionId))
                    .primary_key(
                        Index::create()
                            .col(MissionKeys::Key)
                            .col(MissionKeys::MissionId),
                    )
                    .to_owned(),
            )
            .await?;
        if !manager.has_column("steps", "retry_base").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Steps::Table)
                        .add_column(integer(Steps::RetryBase).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Steps::Table)
                    .drop_column(Steps::RetryBase)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(MissionKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Signals::Table).if_exists().to_owned())
            .await
    }
}
