//! Receipts of provider webhooks (SendGrid, Twilio, Calendly): one row per event the
//! API has handed to the inbox queue, so that a provider's retry of the same event is
//! answered 2xx without being handed on again.
//!
//! Keyed by `(tenant, source, event_id)`: `tenant` is the slug in the webhook's URL
//! (not a foreign key: the tenant may not have a `tenants` row before its first event),
//! `source` the route (`sendgrid`, `twilio`, `inbound_sms`, `calendly`), `event_id` the
//! provider's own id (`sg_event_id`, `MessageSid` plus status, the invitee URI plus
//! event). `received_at` lets an operator prune old receipts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookReceipts {
    Table,
    Tenant,
    Source,
    EventId,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookReceipts::Table)
                    .if_not_exists()
                    .col(string(WebhookReceipts::Tenant))
                    .col(string(WebhookReceipts::Source))
                    .col(string(WebhookReceipts::EventId))
                    .col(timestamp_with_time_zone(WebhookReceipts::ReceivedAt))
                    .primary_key(
                        Index::create()
                            .col(WebhookReceipts::Tenant)
                            .col(WebhookReceipts::Source)
                            .col(WebhookReceipts::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("webhook_receipts", &["received_at"], false))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WebhookReceipts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
