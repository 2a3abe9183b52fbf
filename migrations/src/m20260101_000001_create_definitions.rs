//! Workflow definitions: one immutable row per (name, version).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Definitions {
    Table,
    Id,
    Name,
    Version,
    Description,
    Body,
    ContentHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Definitions::Table)
                    .if_not_exists()
                    .col(pk_uuid(Definitions::Id))
                    .col(string(Definitions::Name))
                    .col(integer(Definitions::Version))
                    .col(text_null(Definitions::Description))
                    // canonical JSON, kept as text so the bytes hashed are the bytes stored
                    .col(text(Definitions::Body))
                    .col(string_len(Definitions::ContentHash, 64))
                    .col(timestamp_with_time_zone(Definitions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_definitions_name_version")
                    .table(Definitions::Table)
                    .col(Definitions::Name)
                    .col(Definitions::Version)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Definitions::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
