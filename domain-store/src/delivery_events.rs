//! Delivery events from the providers' webhooks, recorded once per provider event id
//! (SendGrid `sg_event_id`; for Twilio, the caller builds one from `MessageSid` and
//! `MessageStatus`) since webhooks arrive at least once.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::OnConflict;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::delivery_events::{self, Column, Entity};
use crate::sql::insert_stmt;

/// An event as read off a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeliveryEvent {
    pub tenant_id: Uuid,
    /// `sendgrid`, `twilio`…
    pub provider: String,
    pub provider_event_id: String,
    /// Rex's message, from the custom args, when the event carries it.
    pub message_id: Option<Uuid>,
    pub provider_message_id: Option<String>,
    /// The provider's event type (`delivered`, `bounce`, `spamreport`…).
    pub kind: String,
    /// The recipient, hashed by the caller with [`crate::address_hash`] (no clear-text
    /// address is stored here).
    pub address_hash: Option<String>,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// Records an event; `true` if it is new, `false` for a repeat of one on record.
pub async fn record_delivery_event<C>(
    c: &C,
    event: &NewDeliveryEvent,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    if event.provider_event_id.is_empty() {
        return Err(DomainStoreError::Invalid {
            name: "provider event id",
            why: "is empty".to_owned(),
        });
    }
    let model = delivery_events::Model {
        id: Uuid::now_v7(),
        tenant_id: event.tenant_id,
        provider: event.provider.clone(),
        provider_event_id: event.provider_event_id.clone(),
        message_id: event.message_id,
        provider_message_id: event.provider_message_id.clone(),
        kind: event.kind.clone(),
        address_hash: event.address_hash.clone(),
        payload: event.payload.clone(),
        occurred_at: rex_store::to_db_precision(event.occurred_at),
        received_at: rex_store::to_db_precision(event.received_at),
    };
    let mut insert = insert_stmt::<Entity>(std::slice::from_ref(&model))?;
    insert.on_conflict(
        OnConflict::columns([Column::TenantId, Column::Provider, Column::ProviderEventId])
            .do_nothing()
            .to_owned(),
    );
    Ok(c.execute(&insert).await?.rows_affected() == 1)
}
