//! The dry-run log: what a provider stand-in (no credentials configured) would have
//! sent — recipient, headers, rendered message — persisted per tenant so that the CLI
//! and the API can show it after the worker that "sent" it is gone.
//!
//! `message_id` is the `messages` intent the entry belongs to. It is deliberately not a
//! foreign key: the log is a record of what a stand-in was asked, like a provider's own
//! log, and must not make an intent impossible to delete (a send that certainly did
//! not happen removes its intent). Reconciliation of an intent without a receipt looks
//! entries up by it, hence the `(tenant_id, message_id)` index; listings go newest first
//! by `(tenant_id, recorded_at)`.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{create_indexes, drop_tables, index, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DryRunLog {
    Table,
    Id,
    TenantId,
    MessageId,
    Provider,
    Operation,
    Recipient,
    Headers,
    Rendered,
    RecordedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DryRunLog::Table)
                    .if_not_exists()
                    .col(uuid(DryRunLog::Id).primary_key())
                    .col(uuid(DryRunLog::TenantId))
                    .col(uuid_null(DryRunLog::MessageId))
                    .col(string(DryRunLog::Provider))
                    .col(string(DryRunLog::Operation))
                    .col(string(DryRunLog::Recipient))
                    .col(json_binary(DryRunLog::Headers))
                    .col(text(DryRunLog::Rendered))
                    .col(timestamp_with_time_zone(DryRunLog::RecordedAt))
                    .foreign_key(&mut tenant_fk("dry_run_log"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index("dry_run_log", &["tenant_id", "recorded_at"], false),
                index("dry_run_log", &["tenant_id", "message_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["dry_run_log"]).await
    }
}
