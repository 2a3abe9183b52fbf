//! Attempt leases: a `running` checkpoint belongs to its worker until `lease_until`,
//! which the worker's heartbeat pushes forward. Added as its own migration so databases
//! created before it keep their data.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attempts {
    Table,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("attempts", "lease_until").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Attempts::Table)
                    .add_column(timestamp_with_time_zone_null(Attempts::LeaseUntil))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Attempts::Table)
                    .drop_column(Attempts::LeaseUntil)
                    .to_owned(),
            )
            .await
    }
}
