//! `tenant_secrets`: each tenant's provider credentials (SendGrid, Twilio, Calendly,
//! enrichment, LLM), sealed with XChaCha20-Poly1305 (`rex-domain-store`'s keyring).
//!
//! A row holds the key id that sealed it, the random nonce and the ciphertext (with
//! its tag), never the clear value; the associated data is the tenant and the name, so
//! a ciphertext copied to another row does not open. One row per `(tenant_id, name)`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{index, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantSecrets {
    Table,
    Id,
    TenantId,
    Name,
    KeyId,
    Nonce,
    Ciphertext,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantSecrets::Table)
                    .if_not_exists()
                    .col(uuid(TenantSecrets::Id).primary_key())
                    .col(uuid(TenantSecrets::TenantId))
                    .col(string(TenantSecrets::Name))
                    .col(string(TenantSecrets::KeyId))
                    .col(blob(TenantSecrets::Nonce))
                    .col(blob(TenantSecrets::Ciphertext))
                    .col(timestamp_with_time_zone(TenantSecrets::CreatedAt))
                    .col(timestamp_with_time_zone(TenantSecrets::UpdatedAt))
                    .foreign_key(&mut tenant_fk("tenant_secrets"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("tenant_secrets", &["tenant_id", "name"], true))
            .await?;
        manager
            .create_index(index("tenant_secrets", &["key_id"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(TenantSecrets::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
