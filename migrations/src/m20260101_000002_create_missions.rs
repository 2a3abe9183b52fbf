//! Missions: one row per running or finished workflow instance.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260101_000001_create_definitions::Definitions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Missions {
    Table,
    Id,
    DefinitionId,
    DefinitionName,
    DefinitionVersion,
    Status,
    Input,
    Output,
    Error,
    IdempotencyKey,
    TraceContext,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Missions::Table)
                    .if_not_exists()
                    .col(pk_uuid(Missions::Id))
                    .col(uuid(Missions::DefinitionId))
                    .col(string(Missions::DefinitionName))
                    .col(integer(Missions::DefinitionVersion))
                    .col(string(Missions::Status))
                    .col(json_binary(Missions::Input))
                    .col(json_binary_null(Missions::Output))
                    .col(text_null(Missions::Error))
                    // NULLs never collide in a UNIQUE column, on both backends
                    .col(
                        ColumnDef::new(Missions::IdempotencyKey)
                            .string()
                            .null()
                            .unique_key(),
                    )
                    .col(text_null(Missions::TraceContext))
                    .col(timestamp_with_time_zone(Missions::CreatedAt))
                    .col(timestamp_with_time_zone(Missions::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Missions::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_missions_definition")
                            .from(Missions::Table, Missions::DefinitionId)
                            .to(Definitions::Table, Definitions::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_missions_status_created_at")
                    .table(Missions::Table)
                    .col(Missions::Status)
                    .col(Missions::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_missions_definition_name_created_at")
                    .table(Missions::Table)
                    .col(Missions::DefinitionName)
                    .col(Missions::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // the unfiltered listing pages over (created_at, id)
        manager
            .create_index(
                Index::create()
                    .name("ix_missions_created_at_id")
                    .table(Missions::Table)
                    .col(Missions::CreatedAt)
                    .col(Missions::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Missions::Table).if_exists().to_owned())
            .await
    }
}
