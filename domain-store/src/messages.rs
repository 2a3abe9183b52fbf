//! Campaigns and the send path's messages: an intent recorded before the provider is
//! called, a receipt after.
//!
//! The protocol for a worker (DESIGN.md, "No dual-write holes"):
//! 1. [`record_intent`] — `New`: go on and send. `Existing` with a receipt: the send
//!    happened (or definitely failed); answer from the receipt, never send again.
//!    `Existing` without a receipt: a previous delivery of the task crashed between
//!    intent and receipt; reconcile with the provider (look the message up by Rex's id
//!    in its custom args) instead of sending.
//! 2. the provider call;
//! 3. [`record_receipt`] — the first receipt wins, a repeat returns it.
//!
//! [`unreceipted_intents`] lists the intents a crash left open, for a reconciler.

use chrono::{DateTime, Utc};
use rex_domain::Channel;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::{enum_text, stored_enum};
use crate::entity::{campaigns, messages};
use crate::sql::insert_stmt;

/// How a send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The provider accepted the message (SendGrid 202, Twilio 201).
    Sent,
    /// The provider refused it for good (invalid address, opted out…).
    Rejected,
    /// Reconciliation found the provider never got it, and the step gave up on it.
    NotSent,
}

/// The outcome of a send, recorded once per message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub provider_message_id: Option<String>,
    pub status: ReceiptStatus,
    /// The provider's error or the reconciler's note.
    pub detail: Option<String>,
    pub at: DateTime<Utc>,
}

/// A message about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub campaign_id: Uuid,
    /// The sequence step (`step-3-email`); with lead and campaign, the message's key.
    pub step_key: String,
    pub channel: Channel,
    pub mailbox_id: Option<Uuid>,
    pub variant_id: Option<Uuid>,
    /// A hash of the rendered message.
    pub body_hash: String,
    pub at: DateTime<Utc>,
}

/// What [`record_intent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// This call recorded the intent: send.
    New(Uuid),
    /// A message for this (lead, campaign, step) exists already: do not send. With a
    /// receipt, answer from it; without one, reconcile.
    Existing {
        id: Uuid,
        body_hash: String,
        receipt: Option<Receipt>,
    },
}

impl messages::Model {
    pub fn channel(&self) -> Result<Channel, DomainStoreError> {
        stored_enum("messages", "channel", &self.channel)
    }

    /// The receipt, or `None` while only the intent exists.
    pub fn receipt(&self) -> Result<Option<Receipt>, DomainStoreError> {
        let (Some(status), Some(at)) = (&self.receipt_status, self.receipt_at) else {
            return Ok(None);
        };
        Ok(Some(Receipt {
            provider_message_id: self.provider_message_id.clone(),
            status: stored_enum("messages", "receipt_status", status)?,
            detail: self.receipt_detail.clone(),
            at,
        }))
    }
}

/// Creates a campaign; a name the tenant already uses is a unique violation.
pub async fn create_campaign<C>(
    c: &C,
    tenant_id: Uuid,
    name: &str,
    settings: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<campaigns::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    let at = rex_store::to_db_precision(at);
    let model = campaigns::Model {
        id: Uuid::now_v7(),
        tenant_id,
        name: name.trim().to_owned(),
        status: "active".to_owned(),
        settings,
        created_at: at,
        updated_at: at,
    };
    Ok(campaigns::ActiveModel::from(model).insert(c).await?)
}

pub async fn campaign_by_name<C>(
    c: &C,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<campaigns::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(campaigns::Entity::find()
        .filter(campaigns::Column::TenantId.eq(tenant_id))
        .filter(campaigns::Column::Name.eq(name))
        .one(c)
        .await?)
}

/// Records the intent to send, once per (tenant, lead, campaign, step): of any number
/// of concurrent callers, in any number of processes, exactly one gets
/// [`Intent::New`]. A lead, campaign or mailbox of another tenant is refused by the
/// database ([`DomainStoreError::is_foreign_key_violation`]).
pub async fn record_intent<C>(c: &C, intent: &NewIntent) -> Result<Intent, DomainStoreError>
where
    C: ConnectionTrait,
{
    if intent.step_key.trim().is_empty() {
        return Err(DomainStoreError::Invalid {
            name: "step key",
            why: "is empty".to_owned(),
        });
    }
    let model = messages::Model {
        id: Uuid::now_v7(),
        tenant_id: intent.tenant_id,
        lead_id: intent.lead_id,
        campaign_id: intent.campaign_id,
        step_key: intent.step_key.clone(),
        channel: enum_text(&intent.channel),
        mailbox_id: intent.mailbox_id,
        variant_id: intent.variant_id,
        body_hash: intent.body_hash.clone(),
        intended_at: rex_store::to_db_precision(intent.at),
        provider_message_id: None,
        receipt_status: None,
        receipt_detail: None,
        receipt_at: None,
    };
    let mut insert = insert_stmt::<messages::Entity>(std::slice::from_ref(&model))?;
    insert.on_conflict(
        OnConflict::columns([
            messages::Column::TenantId,
            messages::Column::LeadId,
            messages::Column::CampaignId,
            messages::Column::StepKey,
        ])
        .do_nothing()
        .to_owned(),
    );
    if c.execute(&insert).await?.rows_affected() == 1 {
        return Ok(Intent::New(model.id));
    }
    let existing = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(intent.tenant_id))
        .filter(messages::Column::LeadId.eq(intent.lead_id))
        .filter(messages::Column::CampaignId.eq(intent.campaign_id))
        .filter(messages::Column::StepKey.eq(intent.step_key.as_str()))
        .one(c)
        .await?
        .ok_or_else(|| {
            DomainStoreError::not_found(
                "message",
                format!(
                    "{}/{}/{}",
                    intent.lead_id, intent.campaign_id, intent.step_key
                ),
            )
        })?;
    Ok(Intent::Existing {
        receipt: existing.receipt()?,
        id: existing.id,
        body_hash: existing.body_hash,
    })
}

/// Records the receipt of an intent. The first receipt wins: a repeat (a redelivery
/// that reconciled) changes nothing and returns the receipt on record.
pub async fn record_receipt<C>(
    c: &C,
    tenant_id: Uuid,
    intent_id: Uuid,
    receipt: &Receipt,
) -> Result<Receipt, DomainStoreError>
where
    C: ConnectionTrait,
{
    let updated = messages::Entity::update_many()
        .col_expr(
            messages::Column::ProviderMessageId,
            Expr::value(receipt.provider_message_id.clone()),
        )
        .col_expr(
            messages::Column::ReceiptStatus,
            Expr::value(enum_text(&receipt.status)),
        )
        .col_expr(
            messages::Column::ReceiptDetail,
            Expr::value(receipt.detail.clone()),
        )
        .col_expr(
            messages::Column::ReceiptAt,
            Expr::value(rex_store::to_db_precision(receipt.at)),
        )
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::Id.eq(intent_id))
        .filter(messages::Column::ReceiptAt.is_null())
        .exec(c)
        .await?
        .rows_affected;
    let stored = get_message(c, tenant_id, intent_id)
        .await?
        .ok_or_else(|| DomainStoreError::not_found("message", intent_id))?;
    match stored.receipt()? {
        Some(on_record) => Ok(on_record),
        // only possible if the row changed under us between the two statements
        None => Err(DomainStoreError::Invalid {
            name: "receipt",
            why: format!("message {intent_id} has no receipt after {updated} update(s)"),
        }),
    }
}

pub async fn get_message<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<messages::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(messages::Entity::find_by_id(id)
        .filter(messages::Column::TenantId.eq(tenant_id))
        .one(c)
        .await?)
}

/// The message a provider's id (SendGrid `X-Message-Id`, Twilio `MessageSid`) names.
pub async fn message_by_provider_id<C>(
    c: &C,
    tenant_id: Uuid,
    provider_message_id: &str,
) -> Result<Option<messages::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::ProviderMessageId.eq(provider_message_id))
        .order_by_asc(messages::Column::Id)
        .one(c)
        .await?)
}

/// The message sent as `step_key` (Rex's message id, which SendGrid returns in
/// `custom_args` and Twilio in the status callback URL).
pub async fn message_by_step_key<C>(
    c: &C,
    tenant_id: Uuid,
    step_key: &str,
) -> Result<Option<messages::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::StepKey.eq(step_key))
        .order_by_asc(messages::Column::Id)
        .one(c)
        .await?)
}

/// Intents recorded before `older_than` that still have no receipt, oldest first: the
/// sends a crash may have interrupted, for the reconciler.
pub async fn unreceipted_intents<C>(
    c: &C,
    tenant_id: Uuid,
    older_than: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<messages::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::ReceiptAt.is_null())
        .filter(messages::Column::IntendedAt.lt(rex_store::to_db_precision(older_than)))
        .order_by_asc(messages::Column::IntendedAt)
        .order_by_asc(messages::Column::Id)
        .limit(limit)
        .all(c)
        .await?)
}

/// The email of the tenant sent as `step_key` (the `<mission>:<step>` message id an
/// unsubscribe token names), the first recorded if several leads shared it.
pub async fn email_by_step_key<C>(
    c: &C,
    tenant_id: Uuid,
    step_key: &str,
) -> Result<Option<messages::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::StepKey.eq(step_key))
        .filter(messages::Column::Channel.eq(enum_text(&Channel::Email)))
        .order_by_asc(messages::Column::IntendedAt)
        .order_by_asc(messages::Column::Id)
        .one(c)
        .await?)
}
