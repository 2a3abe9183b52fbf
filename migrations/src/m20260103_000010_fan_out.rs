//! Fan-out and child missions.
//!
//! - `mission_parents`: one row per child mission — its parent, the parent's fan-out
//!   step and that step's attempt, the item's index, and for an item of a task fan-out
//!   the parent step whose task it runs (`item_step`). The parent counts its children
//!   here instead of holding them in its own row, so 10,000 items are 10,000 small rows.
//! - `steps.fanout`: a fan-out step's counts (total, started, succeeded, failed).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MissionParents {
    Table,
    ChildId,
    ParentId,
    ParentStep,
    ParentAttempt,
    ItemIndex,
    ItemStep,
}

#[derive(DeriveIden)]
enum Steps {
    Table,
    Fanout,
}

const BY_PARENT: &str = "mission_parents_by_parent";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MissionParents::Table)
                    .if_not_exists()
                    .col(uuid(MissionParents::ChildId).primary_key())
                    .col(uuid(MissionParents::ParentId))
                    .col(string(MissionParents::ParentStep))
                    .col(integer(MissionParents::ParentAttempt))
                    .col(integer(MissionParents::ItemIndex))
                    .col(string_null(MissionParents::ItemStep))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_PARENT)
                    .table(MissionParents::Table)
                    .col(MissionParents::ParentId)
                    .col(MissionParents::ParentStep)
                    .col(MissionParents::ParentAttempt)
                    .col(MissionParents::ItemIndex)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        if !manager.has_column("steps", "fanout").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Steps::Table)
                        .add_column(json_binary_null(Steps::Fanout))
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
                    .drop_column(Steps::Fanout)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(MissionParents::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
