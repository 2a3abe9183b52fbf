//! The envelope of one verified provider event on its way from the API's webhooks to
//! the outreach worker's inbox consumer: the API (`rex-api`) publishes it, the agents
//! (`rex-agents`' `inbox`) read it. One type, so the two sides cannot drift.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One verified provider event. `event` is the adapter's parsed event as it serializes
/// (`EmailEvent`, `StatusCallback`, `InboundSms`, `BookingEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// The tenant's slug, from the webhook's URL.
    pub tenant: String,
    /// `sendgrid`, `twilio`, `inbound_sms` or `calendly`.
    pub source: String,
    /// The provider's id of this event: the dedupe key.
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub event: serde_json::Value,
}

impl InboxEvent {
    /// The broker message id: `<source>:<event_id>`.
    pub fn message_id(&self) -> String {
        format!("{}:{}", self.source, self.event_id)
    }
}
