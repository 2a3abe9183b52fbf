//! `leads.fit`: the lead's fit (0–100) to the tenant's latest ICP profile, written by
//! `icp.rescore`; null until a rescore has scored the lead. Its own migration so that
//! databases created before it keep their leads.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Leads {
    Table,
    Fit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("leads", "fit").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .add_column(integer_null(Leads::Fit))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Leads::Table)
                    .drop_column(Leads::Fit)
                    .to_owned(),
            )
            .await
    }
}
