//! Steps: the checkpointed state of each step of a mission.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260101_000002_create_missions::Missions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Steps {
    Table,
    MissionId,
    StepId,
    Status,
    Attempt,
    Input,
    Output,
    Error,
    DispatchedAt,
    FinishedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Steps::Table)
                    .if_not_exists()
                    .col(uuid(Steps::MissionId))
                    .col(string(Steps::StepId))
                    .col(string(Steps::Status))
                    .col(integer(Steps::Attempt))
                    .col(json_binary_null(Steps::Input))
                    .col(json_binary_null(Steps::Output))
                    .col(text_null(Steps::Error))
                    .col(timestamp_with_time_zone_null(Steps::DispatchedAt))
                    .col(timestamp_with_time_zone_null(Steps::FinishedAt))
                    .col(timestamp_with_time_zone(Steps::UpdatedAt))
                    .primary_key(Index::create().col(Steps::MissionId).col(Steps::StepId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_steps_mission")
                            .from(Steps::Table, Steps::MissionId)
                            .to(Missions::Table, Missions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Steps::Table).if_exists().to_owned())
            .await
    }
}
