//! A campaign's message events for reporting (`analytics.report`), read in a fixed
//! number of queries whatever the campaign's size: its messages, the delivery events
//! of those messages and the keys of their variants, each selected through a subquery
//! on the campaign's name rather than an id list.
//!
//! What becomes an event: a message with a `sent` receipt is `Sent` at the receipt's
//! time (an intent without a receipt, or one the provider rejected, was never sent);
//! a delivery event tied to a message (`message_id`) maps by its provider kind (see
//! [`event_kind`]). Events not tied to one of the campaign's messages, and kinds with
//! no analytics meaning (`processed`, `deferred`…), are left out.

use rex_domain::analytics::{EventKind, MessageEvent};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::enum_text;
use crate::entity::{campaigns, delivery_events, messages, variants};
use crate::messages::ReceiptStatus;

/// The events of one campaign, and how many messages (intents) it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignEvents {
    pub messages: usize,
    pub events: Vec<MessageEvent>,
}

/// The tenant's campaigns, newest first.
pub async fn list_campaigns<C>(
    c: &C,
    tenant_id: Uuid,
) -> Result<Vec<campaigns::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(campaigns::Entity::find()
        .filter(campaigns::Column::TenantId.eq(tenant_id))
        .order_by_desc(campaigns::Column::CreatedAt)
        .order_by_asc(campaigns::Column::Name)
        .all(c)
        .await?)
}

/// `SELECT id FROM campaigns WHERE tenant_id = ? AND name = ?`.
fn campaign_ids(tenant_id: Uuid, campaign: &str) -> SelectStatement {
    Query::select()
        .column(campaigns::Column::Id)
        .from(campaigns::Entity)
        .and_where(campaigns::Column::TenantId.eq(tenant_id))
        .and_where(campaigns::Column::Name.eq(campaign))
        .to_owned()
}

/// `SELECT <column> FROM messages WHERE tenant_id = ? AND campaign_id IN (…)`.
fn message_column(tenant_id: Uuid, campaign: &str, column: messages::Column) -> SelectStatement {
    Query::select()
        .column(column)
        .from(messages::Entity)
        .and_where(messages::Column::TenantId.eq(tenant_id))
        .and_where(messages::Column::CampaignId.in_subquery(campaign_ids(tenant_id, campaign)))
        .to_owned()
}

/// The events of the tenant's campaign named `campaign`, in time order (empty for a
/// campaign the tenant does not have).
pub async fn campaign_events<C>(
    c: &C,
    tenant_id: Uuid,
    campaign: &str,
) -> Result<CampaignEvents, DomainStoreError>
where
    C: ConnectionTrait,
{
    let msgs = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::CampaignId.in_subquery(campaign_ids(tenant_id, campaign)))
        .all(c)
        .await?;
    let delivery = delivery_events::Entity::find()
        .filter(delivery_events::Column::TenantId.eq(tenant_id))
        .filter(
            delivery_events::Column::MessageId.in_subquery(message_column(
                tenant_id,
                campaign,
                messages::Column::Id,
            )),
        )
        .order_by_asc(delivery_events::Column::OccurredAt)
        .all(c)
        .await?;
    let keys: std::collections::HashMap<Uuid, String> = variants::Entity::find()
        .filter(variants::Column::TenantId.eq(tenant_id))
        .filter(variants::Column::Id.in_subquery(message_column(
            tenant_id,
            campaign,
            messages::Column::VariantId,
        )))
        .all(c)
        .await?
        .into_iter()
        .map(|v| (v.id, v.key))
        .collect();

    let sent = enum_text(&ReceiptStatus::Sent);
    let mut variant_of = std::collections::HashMap::with_capacity(msgs.len());
    let mut events = Vec::with_capacity(msgs.len() + delivery.len());
    for m in &msgs {
        let variant = m.variant_id.and_then(|v| keys.get(&v).cloned());
        variant_of.insert(m.id, variant.clone());
        if let (Some(status), Some(at)) = (&m.receipt_status, m.receipt_at)
            && *status == sent
        {
            events.push(MessageEvent {
                message_id: m.id.to_string(),
                variant,
                at,
                kind: EventKind::Sent,
            });
        }
    }
    for e in delivery {
        let (Some(message_id), Some(kind)) = (e.message_id, event_kind(&e.kind, &e.payload)) else {
            continue;
        };
        events.push(MessageEvent {
            message_id: message_id.to_string(),
            variant: variant_of.get(&message_id).cloned().flatten(),
            at: e.occurred_at,
            kind,
        });
    }
    events.sort_by_key(|e| e.at);
    Ok(CampaignEvents {
        messages: msgs.len(),
        events,
    })
}

/// The analytics meaning of a recorded delivery event: SendGrid's event types, Twilio's
/// statuses and the kinds `outreach.handle_event` records. The payload may add what the
/// kind alone does not say: `useragent` / `user_agent` and `sg_machine_open` of an
/// open, `bounce_type` (`soft`; anything else is hard) of a bounce, `positive` of a
/// reply. `None` for kinds that do not count.
pub fn event_kind(kind: &str, payload: &serde_json::Value) -> Option<EventKind> {
    let text = |k: &str| payload.get(k).and_then(serde_json::Value::as_str);
    let flag = |k: &str| payload.get(k).and_then(serde_json::Value::as_bool);
    Some(match kind {
        "delivered" => EventKind::Delivered,
        "open" => EventKind::Open {
            user_agent: text("useragent")
                .or_else(|| text("user_agent"))
                .map(Into::into),
            machine_open: flag("sg_machine_open").unwrap_or(false),
        },
        "click" => EventKind::Click,
        "bounce" => EventKind::Bounce {
            hard: text("bounce_type").is_none_or(|t| t != "soft"),
        },
        // SendGrid's "blocked" and Twilio's "undelivered": refused this time, not for good
        "blocked" | "undelivered" => EventKind::Bounce { hard: false },
        "spamreport" | "complaint" => EventKind::Complaint,
        "unsubscribe" | "group_unsubscribe" => EventKind::Unsubscribe,
        "reply" | "sms_inbound" => EventKind::Reply {
            positive: flag("positive").unwrap_or(false),
        },
        "booking" | "meeting_booked" => EventKind::MeetingBooked,
        _ => return None,
    })
}
