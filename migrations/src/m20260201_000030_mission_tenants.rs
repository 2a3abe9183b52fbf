//! Missions belong to a tenant: `missions.tenant_id` holds the tenant's slug, so the
//! engine stays independent of the domain's `tenants` table. Missions started outside
//! the HTTP API (the CLI, `rex dev`, existing rows) belong to `default`.
//!
//! Two indexes serve the API's tenant-scoped listings: by status, and the keyset
//! pagination by `(created_at, id)` newest first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Missions {
    Table,
    TenantId,
}

const INDEXES: [(&str, &[&str]); 2] = [
    (
        "ix_missions_tenant_status_created",
        &["tenant_id", "status", "created_at"],
    ),
    (
        "ix_missions_tenant_created_id",
        &["tenant_id", "created_at", "id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if !manager.has_column("missions", "tenant_id").await? {
            manager
                .alter_table(
                    Table::alter()
                        .table(Missions::Table)
                        .add_column(string(Missions::TenantId).default("default"))
                        .to_owned(),
                )
                .await?;
        }
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Missions::Table).if_not_exists();
            for column in columns {
                index.col(Alias::new(*column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Missions::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Missions::Table)
                    .drop_column(Missions::TenantId)
                    .to_owned(),
            )
            .await
    }
}
