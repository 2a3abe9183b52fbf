//! What travels through the broker, and what a consumer hands back.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::BrokerError;

/// AMQP short strings (message id, header names) are at most this many bytes.
pub(crate) const MAX_SHORT_STRING: usize = 255;

/// Where a message goes, or where a consumer reads from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// The task queue of one agent (`reviver`, `scraper`, …).
    Agent(String),
    /// The single queue of step results read by the orchestrator.
    Results,
    /// Inbound provider events (webhooks), verified and deduplicated by the API and
    /// processed by the inbox consumer (`rex-agents`' `inbox`). Message id
    /// `<source>:<event id>`.
    Inbox,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Agent(agent) => write!(f, "agent {agent:?}"),
            Destination::Results => f.write_str("results"),
            Destination::Inbox => f.write_str("inbox"),
        }
    }
}

/// One task or result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The AMQP `message_id`: the task's idempotency key, chosen by the sender.
    /// Consumers deduplicate on it; it is never a delivery tag.
    pub id: String,
    /// Mission id, step id, attempt, `traceparent`/`tracestate`… Sent as AMQP
    /// long strings; names are at most 255 bytes.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn new(id: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self {
            id: id.into(),
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Both backends refuse what AMQP could not carry, so the embedded mode
    /// never accepts a message production would reject.
    pub(crate) fn validate(&self) -> Result<(), BrokerError> {
        let invalid = |reason: String| BrokerError::InvalidMessage {
            id: self.id.clone(),
            reason,
        };
        if self.id.is_empty() {
            return Err(invalid("the id (idempotency key) is empty".into()));
        }
        if self.id.len() > MAX_SHORT_STRING {
            return Err(invalid(format!(
                "the id is {} bytes long (at most {MAX_SHORT_STRING})",
                self.id.len()
            )));
        }
        if let Some(name) = self
            .headers
            .keys()
            .find(|name| name.is_empty() || name.len() > MAX_SHORT_STRING)
        {
            return Err(invalid(format!(
                "header name {name:?} must be 1 to {MAX_SHORT_STRING} bytes"
            )));
        }
        Ok(())
    }
}

/// Depth and consumers of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages waiting to be delivered (not counting unacknowledged ones).
    pub ready: u64,
    pub consumers: u32,
}

/// A message handed to a consumer. It must be settled with [`Delivery::ack`]
/// or [`Delivery::nack`]; until then it counts against the consumer's prefetch,
/// and if the consumer goes away it is redelivered.
#[derive(Debug)]
pub struct Delivery {
    pub message: Message,
    /// The broker delivered this message before (to this or another consumer).
    pub redelivered: bool,
    /// 1 on the first delivery, 2 on the first redelivery, …
    pub delivery_count: u32,
    /// Why the broker dead-lettered it, on deliveries from a dead-letter queue.
    pub(crate) death: Option<Death>,
    pub(crate) acker: Acker,
}

/// What the broker says about a dead-lettered message: RabbitMQ's latest `x-death`
/// entry, or the in-process broker's equivalent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Death {
    /// `delivery_limit`, `rejected`, `expired`, `maxlen`…, as RabbitMQ names them.
    pub(crate) reason: String,
    /// How many times it died this way (a replayed message that dies again counts up).
    pub(crate) count: u32,
}

#[derive(Debug)]
pub(crate) enum Acker {
    Amqp(crate::amqp::AmqpTicket),
    Memory(crate::memory::Ticket),
}

impl Delivery {
    /// The message is done with: the broker forgets it.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.acker.ack(&self.message.id).await
    }

    /// `requeue = true`: hand the message back for redelivery (it counts
    /// towards the delivery limit). `requeue = false`: dead-letter it now.
    pub async fn nack(self, requeue: bool) -> Result<(), BrokerError> {
        self.acker.nack(&self.message.id, requeue).await
    }

    /// Gives up on the message: dead-letters it now with `error` in its
    /// [`ERROR_HEADER`], so whoever reads the dead-letter queue sees why (a plain
    /// `nack(false)` only tells them *that* it was rejected). On RabbitMQ a copy is
    /// published to the dead-letter exchange (confirmed) before the original is acked:
    /// at least once, and a duplicate carries the same message id.
    pub async fn dead_letter(self, error: &str) -> Result<(), BrokerError> {
        match self.acker {
            Acker::Amqp(ticket) => ticket.dead_letter(self.message, error).await,
            Acker::Memory(ticket) => ticket.settle(
                &self.message.id,
                crate::memory::Settle::DeadLetter(Some(error.to_owned())),
            ),
        }
    }
}

/// The header [`Delivery::dead_letter`] puts the consumer's error in.
pub const ERROR_HEADER: &str = "x-rex-error";

impl Acker {
    pub(crate) async fn ack(self, id: &str) -> Result<(), BrokerError> {
        match self {
            Acker::Amqp(ticket) => ticket.settle(id, crate::amqp::Settle::Ack).await,
            Acker::Memory(ticket) => ticket.settle(id, crate::memory::Settle::Ack),
        }
    }

    pub(crate) async fn nack(self, id: &str, requeue: bool) -> Result<(), BrokerError> {
        match self {
            Acker::Amqp(ticket) => {
                let how = crate::amqp::Settle::Nack { requeue };
                ticket.settle(id, how).await
            }
            Acker::Memory(ticket) => {
                let how = if requeue {
                    crate::memory::Settle::Requeue
                } else {
                    crate::memory::Settle::DeadLetter(None)
                };
                ticket.settle(id, how)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_an_id_is_refused() {
        let err = Message::new("", b"x".to_vec()).validate().unwrap_err();
        assert!(matches!(err, BrokerError::InvalidMessage { .. }), "{err}");
    }

    #[test]
    fn an_id_longer_than_an_amqp_short_string_is_refused() {
        let err = Message::new("x".repeat(256), Vec::new())
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("256 bytes"), "{err}");
        assert!(Message::new("x".repeat(255), Vec::new()).validate().is_ok());
    }

    #[test]
    fn an_overlong_header_name_is_refused() {
        let msg = Message::new("t-1", Vec::new()).with_header("h".repeat(300), "v");
        assert!(msg.validate().is_err());
    }
}
