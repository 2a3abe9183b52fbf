//! Outbox: messages committed with a state change, deleted once published.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    MissionId,
    Destination,
    MessageId,
    Headers,
    Body,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    // an INTEGER PRIMARY KEY (rowid) on SQLite, an identity on PostgreSQL:
                    // ids grow in commit-ish order, which is the relay's publish order
                    .col(big_pk_auto(Outbox::Id))
                    .col(uuid(Outbox::MissionId))
                    .col(string(Outbox::Destination))
                    .col(string(Outbox::MessageId))
                    .col(json_binary(Outbox::Headers))
                    .col(text(Outbox::Body))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_outbox_created_at")
                    .table(Outbox::Table)
                    .col(Outbox::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).if_exists().to_owned())
            .await
    }
}
