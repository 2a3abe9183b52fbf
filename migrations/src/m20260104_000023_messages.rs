//! Campaigns, messages (intent and receipt) and delivery events.
//!
//! - `campaigns`: a tenant's named outreach campaign; messages and experiments belong
//!   to one.
//! - `messages`: one row per (lead, campaign, step), written as an *intent* before the
//!   provider is called and completed by its *receipt* after. The unique key
//!   `(tenant_id, lead_id, campaign_id, step_key)` is what makes a second message for
//!   the same step impossible, even from two workers racing on a redelivered task; an
//!   intent without a receipt is what a redelivery reconciles instead of sending again.
//! - `delivery_events`: the providers' webhook events (delivered, bounce, spamreport…),
//!   unique per provider event id, because providers deliver webhooks at least once.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{
    create_indexes, drop_tables, index, scoped_fk, tenant_fk, tenant_key,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Campaigns {
    Table,
    Id,
    TenantId,
    Name,
    Status,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    TenantId,
    LeadId,
    CampaignId,
    StepKey,
    Channel,
    MailboxId,
    VariantId,
    BodyHash,
    IntendedAt,
    ProviderMessageId,
    ReceiptStatus,
    ReceiptDetail,
    ReceiptAt,
}

#[derive(DeriveIden)]
enum DeliveryEvents {
    Table,
    Id,
    TenantId,
    Provider,
    ProviderEventId,
    MessageId,
    ProviderMessageId,
    Kind,
    AddressHash,
    Payload,
    OccurredAt,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Campaigns::Table)
                    .if_not_exists()
                    .col(uuid(Campaigns::Id).primary_key())
                    .col(uuid(Campaigns::TenantId))
                    .col(string(Campaigns::Name))
                    .col(string(Campaigns::Status))
                    .col(json_binary(Campaigns::Settings))
                    .col(timestamp_with_time_zone(Campaigns::CreatedAt))
                    .col(timestamp_with_time_zone(Campaigns::UpdatedAt))
                    .foreign_key(&mut tenant_fk("campaigns"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("campaigns"),
                index("campaigns", &["tenant_id", "name"], true),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(uuid(Messages::Id).primary_key())
                    .col(uuid(Messages::TenantId))
                    .col(uuid(Messages::LeadId))
                    .col(uuid(Messages::CampaignId))
                    .col(string(Messages::StepKey))
                    .col(string(Messages::Channel))
                    .col(uuid_null(Messages::MailboxId))
                    .col(uuid_null(Messages::VariantId))
                    .col(string(Messages::BodyHash))
                    .col(timestamp_with_time_zone(Messages::IntendedAt))
                    .col(string_null(Messages::ProviderMessageId))
                    .col(string_null(Messages::ReceiptStatus))
                    .col(text_null(Messages::ReceiptDetail))
                    .col(timestamp_with_time_zone_null(Messages::ReceiptAt))
                    .foreign_key(&mut tenant_fk("messages"))
                    .foreign_key(&mut scoped_fk(
                        "messages",
                        "lead_id",
                        "leads",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut scoped_fk(
                        "messages",
                        "campaign_id",
                        "campaigns",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut scoped_fk(
                        "messages",
                        "mailbox_id",
                        "mailboxes",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("messages"),
                index(
                    "messages",
                    &["tenant_id", "lead_id", "campaign_id", "step_key"],
                    true,
                ),
                index(
                    "messages",
                    &["tenant_id", "receipt_at", "intended_at"],
                    false,
                ),
                index("messages", &["provider_message_id"], false),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryEvents::Table)
                    .if_not_exists()
                    .col(uuid(DeliveryEvents::Id).primary_key())
                    .col(uuid(DeliveryEvents::TenantId))
                    .col(string(DeliveryEvents::Provider))
                    .col(string(DeliveryEvents::ProviderEventId))
                    .col(uuid_null(DeliveryEvents::MessageId))
                    .col(string_null(DeliveryEvents::ProviderMessageId))
                    .col(string(DeliveryEvents::Kind))
                    .col(string_null(DeliveryEvents::AddressHash))
                    .col(json_binary(DeliveryEvents::Payload))
                    .col(timestamp_with_time_zone(DeliveryEvents::OccurredAt))
                    .col(timestamp_with_time_zone(DeliveryEvents::ReceivedAt))
                    .foreign_key(&mut tenant_fk("delivery_events"))
                    .foreign_key(&mut scoped_fk(
                        "delivery_events",
                        "message_id",
                        "messages",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index(
                    "delivery_events",
                    &["tenant_id", "provider", "provider_event_id"],
                    true,
                ),
                index("delivery_events", &["tenant_id", "message_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["delivery_events", "messages", "campaigns"]).await
    }
}
