//! The suppression ledger: one list per tenant, across channels, of addresses Rex must
//! never contact again (unsubscribe, SMS STOP, complaint, hard bounce, objection,
//! do-not-contact), with the event that caused each entry and its time. Every send
//! checks it first.
//!
//! The key is the SHA-256 of the normalized address (`address_hash`), not the address:
//! a GDPR erasure blanks `address` but keeps the hash, so the person stays suppressed
//! without Rex keeping their address. `(tenant_id, channel, address_hash, reason)` is
//! unique, so recording the same unsubscribe twice (webhooks come at least once) leaves
//! one row.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{create_indexes, drop_tables, index, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    Id,
    TenantId,
    Channel,
    Address,
    AddressHash,
    Reason,
    SourceEvent,
    SuppressedAt,
    LiftedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Suppressions::Table)
                    .if_not_exists()
                    .col(uuid(Suppressions::Id).primary_key())
                    .col(uuid(Suppressions::TenantId))
                    .col(string(Suppressions::Channel))
                    .col(string_null(Suppressions::Address))
                    .col(string(Suppressions::AddressHash))
                    .col(string(Suppressions::Reason))
                    .col(string(Suppressions::SourceEvent))
                    .col(timestamp_with_time_zone(Suppressions::SuppressedAt))
                    .col(timestamp_with_time_zone_null(Suppressions::LiftedAt))
                    .col(timestamp_with_time_zone(Suppressions::CreatedAt))
                    .foreign_key(&mut tenant_fk("suppressions"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index(
                    "suppressions",
                    &["tenant_id", "channel", "address_hash", "reason"],
                    true,
                ),
                index("suppressions", &["tenant_id", "address_hash"], false),
                index("suppressions", &["tenant_id", "suppressed_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["suppressions"]).await
    }
}
