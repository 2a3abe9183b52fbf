//! Sending domains, mailboxes and the shared send counters.
//!
//! - `sending_domains`: a tenant's domains with their health tier; pausing a domain
//!   stops all its mailboxes.
//! - `mailboxes`: one sending identity: warmup start (its age drives the warmup cap),
//!   the operator's daily cap, health tier, paused flag, and the rolling-window counters
//!   (sent, bounced, complained) the deliverability agent computes the tier from.
//! - `mailbox_usage`: sends per mailbox per day. The daily cap is enforced by one atomic
//!   upsert on this row, so it holds across every worker process.
//! - `channel_usage`: sends per (tenant, channel) per hour, the same way: the
//!   per-channel budget shared by all workers.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{
    create_indexes, drop_tables, index, scoped_fk, tenant_fk, tenant_key,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SendingDomains {
    Table,
    Id,
    TenantId,
    Domain,
    HealthTier,
    Paused,
    PausedReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
    TenantId,
    DomainId,
    Address,
    WarmupStartedAt,
    DailyCap,
    HealthTier,
    Paused,
    PausedReason,
    WindowSent,
    WindowBounced,
    WindowComplained,
    HealthUpdatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MailboxUsage {
    Table,
    TenantId,
    MailboxId,
    Day,
    Sent,
}

#[derive(DeriveIden)]
enum ChannelUsage {
    Table,
    TenantId,
    Channel,
    WindowStart,
    Sent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SendingDomains::Table)
                    .if_not_exists()
                    .col(uuid(SendingDomains::Id).primary_key())
                    .col(uuid(SendingDomains::TenantId))
                    .col(string(SendingDomains::Domain))
                    .col(string(SendingDomains::HealthTier))
                    .col(boolean(SendingDomains::Paused))
                    .col(text_null(SendingDomains::PausedReason))
                    .col(timestamp_with_time_zone(SendingDomains::CreatedAt))
                    .col(timestamp_with_time_zone(SendingDomains::UpdatedAt))
                    .foreign_key(&mut tenant_fk("sending_domains"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("sending_domains"),
                index("sending_domains", &["tenant_id", "domain"], true),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Mailboxes::Table)
                    .if_not_exists()
                    .col(uuid(Mailboxes::Id).primary_key())
                    .col(uuid(Mailboxes::TenantId))
                    .col(uuid(Mailboxes::DomainId))
                    .col(string(Mailboxes::Address))
                    .col(timestamp_with_time_zone(Mailboxes::WarmupStartedAt))
                    .col(integer(Mailboxes::DailyCap))
                    .col(string(Mailboxes::HealthTier))
                    .col(boolean(Mailboxes::Paused))
                    .col(text_null(Mailboxes::PausedReason))
                    .col(integer(Mailboxes::WindowSent))
                    .col(integer(Mailboxes::WindowBounced))
                    .col(integer(Mailboxes::WindowComplained))
                    .col(timestamp_with_time_zone_null(Mailboxes::HealthUpdatedAt))
                    .col(timestamp_with_time_zone(Mailboxes::CreatedAt))
                    .col(timestamp_with_time_zone(Mailboxes::UpdatedAt))
                    .foreign_key(&mut tenant_fk("mailboxes"))
                    .foreign_key(&mut scoped_fk(
                        "mailboxes",
                        "domain_id",
                        "sending_domains",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                tenant_key("mailboxes"),
                index("mailboxes", &["tenant_id", "address"], true),
                index("mailboxes", &["tenant_id", "domain_id"], false),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(MailboxUsage::Table)
                    .if_not_exists()
                    .col(uuid(MailboxUsage::TenantId))
                    .col(uuid(MailboxUsage::MailboxId))
                    .col(date(MailboxUsage::Day))
                    .col(integer(MailboxUsage::Sent))
                    .primary_key(
                        Index::create()
                            .col(MailboxUsage::MailboxId)
                            .col(MailboxUsage::Day),
                    )
                    .foreign_key(&mut tenant_fk("mailbox_usage"))
                    .foreign_key(&mut scoped_fk(
                        "mailbox_usage",
                        "mailbox_id",
                        "mailboxes",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChannelUsage::Table)
                    .if_not_exists()
                    .col(uuid(ChannelUsage::TenantId))
                    .col(string(ChannelUsage::Channel))
                    .col(timestamp_with_time_zone(ChannelUsage::WindowStart))
                    .col(integer(ChannelUsage::Sent))
                    .primary_key(
                        Index::create()
                            .col(ChannelUsage::TenantId)
                            .col(ChannelUsage::Channel)
                            .col(ChannelUsage::WindowStart),
                    )
                    .foreign_key(&mut tenant_fk("channel_usage"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "channel_usage",
                "mailbox_usage",
                "mailboxes",
                "sending_domains",
            ],
        )
        .await
    }
}
