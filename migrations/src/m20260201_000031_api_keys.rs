//! API keys of the HTTP API: one row per key, owned by a tenant (`tenants`, 000020).
//!
//! Only the SHA-256 of a key is stored (`hash`, unique: the lookup of a presented key);
//! `prefix` is the key's public head (`rex_ab12cd34`) so an operator can tell keys
//! apart in a listing without the secret. A revoked key keeps its row (`revoked_at`)
//! for the audit trail. `scopes` is a comma-separated list (`read,write`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{index, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    Prefix,
    Hash,
    Scopes,
    CreatedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(uuid(ApiKeys::TenantId))
                    .col(string(ApiKeys::Name))
                    .col(string(ApiKeys::Prefix))
                    .col(string(ApiKeys::Hash))
                    .col(string(ApiKeys::Scopes))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut tenant_fk("api_keys"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("api_keys", &["hash"], true))
            .await?;
        manager
            .create_index(index("api_keys", &["tenant_id", "created_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).if_exists().to_owned())
            .await
    }
}
