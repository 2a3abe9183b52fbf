//! Sending domains and mailboxes: added, paused and resumed, their health updated by
//! the deliverability agent, listed with today's usage for rotation.

use chrono::{DateTime, NaiveDate, Utc};
use rex_domain::deliverability::{HealthTier, Mailbox, SendStats};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::{enum_text, stored_enum};
use crate::entity::{mailbox_usage, mailboxes, sending_domains};

/// A mailbox to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailbox {
    pub tenant_id: Uuid,
    pub domain_id: Uuid,
    pub address: String,
    pub warmup_started_at: DateTime<Utc>,
    /// The operator's ceiling per day.
    pub daily_cap: u32,
}

/// Rolling-window counters and the tier computed from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxHealth {
    pub tier: HealthTier,
    pub stats: SendStats,
}

/// A mailbox as rotation needs it: its row, its domain, and today's sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxWithHealth {
    pub mailbox: mailboxes::Model,
    pub domain: sending_domains::Model,
    pub sent_today: u32,
}

impl MailboxWithHealth {
    pub fn tier(&self) -> Result<HealthTier, DomainStoreError> {
        stored_enum("mailboxes", "health_tier", &self.mailbox.health_tier)
    }

    /// Whether an operator or a decision paused the mailbox or its whole domain.
    pub fn is_paused(&self) -> bool {
        self.mailbox.paused || self.domain.paused
    }

    pub fn stats(&self) -> SendStats {
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        SendStats {
            sent: count(self.mailbox.window_sent),
            hard_bounces: count(self.mailbox.window_bounced),
            complaints: count(self.mailbox.window_complained),
        }
    }

    /// The mailbox as `rex-domain`'s rotation reads it, at `now`.
    pub fn to_domain(&self, now: DateTime<Utc>) -> Mailbox {
        let age_days = now
            .signed_duration_since(self.mailbox.warmup_started_at)
            .num_days();
        Mailbox {
            id: self.mailbox.id.to_string(),
            domain: self.domain.domain.clone(),
            age_days: u32::try_from(age_days.max(0)).unwrap_or(u32::MAX),
            sent_today: self.sent_today,
            stats: self.stats(),
            paused: self.is_paused(),
        }
    }
}

fn invalid(name: &'static str, why: impl Into<String>) -> DomainStoreError {
    DomainStoreError::Invalid {
        name,
        why: why.into(),
    }
}

/// Adds a sending domain (lower-cased), healthy and not paused.
pub async fn add_sending_domain<C>(
    c: &C,
    tenant_id: Uuid,
    domain: &str,
    at: DateTime<Utc>,
) -> Result<sending_domains::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    let domain = domain.trim().to_ascii_lowercase();
    if !domain.contains('.') || domain.contains(['@', '/', ' ']) {
        return Err(invalid(
            "sending domain",
            format!("{domain:?} is not a domain name"),
        ));
    }
    let at = rex_store::to_db_precision(at);
    let model = sending_domains::Model {
        id: Uuid::now_v7(),
        tenant_id,
        domain,
        health_tier: enum_text(&HealthTier::Excellent),
        paused: false,
        paused_reason: None,
        created_at: at,
        updated_at: at,
    };
    Ok(sending_domains::ActiveModel::from(model).insert(c).await?)
}

/// Adds a mailbox on one of the tenant's domains.
pub async fn add_mailbox<C>(
    c: &C,
    new: &NewMailbox,
    at: DateTime<Utc>,
) -> Result<mailboxes::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    let address = new.address.trim().to_lowercase();
    if !rex_domain::channel::is_email_address(&address) {
        return Err(invalid(
            "mailbox address",
            format!("{address:?} is not an email address"),
        ));
    }
    let at = rex_store::to_db_precision(at);
    let model = mailboxes::Model {
        id: Uuid::now_v7(),
        tenant_id: new.tenant_id,
        domain_id: new.domain_id,
        address,
        warmup_started_at: rex_store::to_db_precision(new.warmup_started_at),
        daily_cap: i32::try_from(new.daily_cap).unwrap_or(i32::MAX),
        health_tier: enum_text(&HealthTier::Excellent),
        paused: false,
        paused_reason: None,
        window_sent: 0,
        window_bounced: 0,
        window_complained: 0,
        health_updated_at: None,
        created_at: at,
        updated_at: at,
    };
    Ok(mailboxes::ActiveModel::from(model).insert(c).await?)
}

/// Pauses (with a reason) or resumes a mailbox.
pub async fn set_mailbox_paused<C>(
    c: &C,
    tenant_id: Uuid,
    mailbox_id: Uuid,
    paused: bool,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
{
    use mailboxes::{Column, Entity};
    let n = Entity::update_many()
        .col_expr(Column::Paused, Expr::value(paused))
        .col_expr(
            Column::PausedReason,
            Expr::value(reason.filter(|_| paused).map(str::to_owned)),
        )
        .col_expr(
            Column::UpdatedAt,
            Expr::value(rex_store::to_db_precision(at)),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.eq(mailbox_id))
        .exec(c)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(DomainStoreError::not_found("mailbox", mailbox_id));
    }
    Ok(())
}

/// Pauses (with a reason) or resumes a whole domain.
pub async fn set_domain_paused<C>(
    c: &C,
    tenant_id: Uuid,
    domain_id: Uuid,
    paused: bool,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
{
    use sending_domains::{Column, Entity};
    let n = Entity::update_many()
        .col_expr(Column::Paused, Expr::value(paused))
        .col_expr(
            Column::PausedReason,
            Expr::value(reason.filter(|_| paused).map(str::to_owned)),
        )
        .col_expr(
            Column::UpdatedAt,
            Expr::value(rex_store::to_db_precision(at)),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.eq(domain_id))
        .exec(c)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(DomainStoreError::not_found("sending domain", domain_id));
    }
    Ok(())
}

/// Stores the deliverability agent's latest counters and tier of a mailbox.
pub async fn update_mailbox_health<C>(
    c: &C,
    tenant_id: Uuid,
    mailbox_id: Uuid,
    health: &MailboxHealth,
    at: DateTime<Utc>,
) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
{
    use mailboxes::{Column, Entity};
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let at = rex_store::to_db_precision(at);
    let n = Entity::update_many()
        .col_expr(Column::HealthTier, Expr::value(enum_text(&health.tier)))
        .col_expr(Column::WindowSent, Expr::value(count(health.stats.sent)))
        .col_expr(
            Column::WindowBounced,
            Expr::value(count(health.stats.hard_bounces)),
        )
        .col_expr(
            Column::WindowComplained,
            Expr::value(count(health.stats.complaints)),
        )
        .col_expr(Column::HealthUpdatedAt, Expr::value(at))
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.eq(mailbox_id))
        .exec(c)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(DomainStoreError::not_found("mailbox", mailbox_id));
    }
    Ok(())
}

/// Stores a domain's tier (its mailboxes' counters added up, `rex-domain`'s
/// `domain_tier`).
pub async fn update_domain_health<C>(
    c: &C,
    tenant_id: Uuid,
    domain_id: Uuid,
    tier: HealthTier,
    at: DateTime<Utc>,
) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
{
    use sending_domains::{Column, Entity};
    let n = Entity::update_many()
        .col_expr(Column::HealthTier, Expr::value(enum_text(&tier)))
        .col_expr(
            Column::UpdatedAt,
            Expr::value(rex_store::to_db_precision(at)),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.eq(domain_id))
        .exec(c)
        .await?
        .rows_affected;
    if n == 0 {
        return Err(DomainStoreError::not_found("sending domain", domain_id));
    }
    Ok(())
}

/// The tenant's mailboxes with their domain and the sends taken on `day`, by address.
pub async fn list_mailboxes<C>(
    c: &C,
    tenant_id: Uuid,
    day: NaiveDate,
) -> Result<Vec<MailboxWithHealth>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let boxes = mailboxes::Entity::find()
        .filter(mailboxes::Column::TenantId.eq(tenant_id))
        .order_by_asc(mailboxes::Column::Address)
        .all(c)
        .await?;
    let domains: std::collections::HashMap<Uuid, sending_domains::Model> =
        sending_domains::Entity::find()
            .filter(sending_domains::Column::TenantId.eq(tenant_id))
            .all(c)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
    let usage: std::collections::HashMap<Uuid, i32> = mailbox_usage::Entity::find()
        .filter(mailbox_usage::Column::TenantId.eq(tenant_id))
        .filter(mailbox_usage::Column::Day.eq(day))
        .all(c)
        .await?
        .into_iter()
        .map(|u| (u.mailbox_id, u.sent))
        .collect();
    boxes
        .into_iter()
        .map(|mailbox| {
            let domain = domains
                .get(&mailbox.domain_id)
                .cloned()
                .ok_or_else(|| DomainStoreError::not_found("sending domain", mailbox.domain_id))?;
            let sent_today = usage
                .get(&mailbox.id)
                .map_or(0, |n| u32::try_from(*n).unwrap_or(0));
            Ok(MailboxWithHealth {
                mailbox,
                domain,
                sent_today,
            })
        })
        .collect()
}

/// The tenant's sending domains, by name.
pub async fn list_sending_domains<C>(
    c: &C,
    tenant_id: Uuid,
) -> Result<Vec<sending_domains::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(sending_domains::Entity::find()
        .filter(sending_domains::Column::TenantId.eq(tenant_id))
        .order_by_asc(sending_domains::Column::Domain)
        .all(c)
        .await?)
}

/// One of the tenant's sending domains; another tenant's id is `None`, as an unknown one.
pub async fn get_sending_domain<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<sending_domains::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(sending_domains::Entity::find_by_id(id)
        .filter(sending_domains::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?)
}
