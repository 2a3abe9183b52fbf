//! Reading the dead-letter queues: what died, where, and why.
//!
//! A message lands in `{prefix}.agent.{a}.dlq` (or `{prefix}.results.dlq`) when it
//! was returned more often than the delivery limit allows, or when a consumer gave up
//! on it (`nack(false)`, [`Delivery::dead_letter`]). Nothing downstream can act on it
//! while it sits there, so the orchestrator drains these queues into its database,
//! where an operator can list and replay them.

use std::time::Duration;

use crate::Consumer;
use crate::error::BrokerError;
use crate::message::{Acker, Delivery, Destination, ERROR_HEADER, Message};

/// The reason given when the broker did not say (a message moved by hand).
pub const UNKNOWN_REASON: &str = "unknown";

/// One dead-lettered message. Settle it like a delivery: [`DeadLetter::ack`] once it is
/// recorded elsewhere, or [`DeadLetter::nack`] with `requeue = true` to leave it in its
/// dead-letter queue for later.
#[derive(Debug)]
pub struct DeadLetter {
    /// The message as its sender published it (id, headers, body); the broker's death
    /// bookkeeping and the [`ERROR_HEADER`] are taken out into the fields below.
    pub message: Message,
    /// The queue it was bound for when it died.
    pub source: Destination,
    /// Why the broker dead-lettered it: `delivery_limit` (returned too often),
    /// `rejected` (a consumer gave up), `expired`, `maxlen`, or [`UNKNOWN_REASON`].
    pub reason: String,
    /// The error of the consumer that gave up, if it said ([`Delivery::dead_letter`]).
    pub error: Option<String>,
    /// How many times it died in this way (more than 1 after a replay died again).
    pub deaths: u32,
    acker: Acker,
}

impl DeadLetter {
    fn from_delivery(source: Destination, delivery: Delivery) -> Self {
        let Delivery {
            mut message,
            death,
            acker,
            ..
        } = delivery;
        let error = message.headers.remove(ERROR_HEADER);
        let death = death.unwrap_or_default();
        let reason = if death.reason.is_empty() {
            UNKNOWN_REASON.to_owned()
        } else {
            death.reason
        };
        Self {
            message,
            source,
            reason,
            error,
            deaths: death.count.max(1),
            acker,
        }
    }

    /// Removes it from the dead-letter queue for good.
    pub async fn ack(self) -> Result<(), BrokerError> {
        self.acker.ack(&self.message.id).await
    }

    /// `requeue = true` puts it back in its dead-letter queue (dead-letter queues have
    /// no delivery limit); `requeue = false` drops it.
    pub async fn nack(self, requeue: bool) -> Result<(), BrokerError> {
        self.acker.nack(&self.message.id, requeue).await
    }
}

/// A consumer of one dead-letter queue, from [`crate::Broker::consume_dead_letters`].
/// It reconnects like any consumer; dropping it hands unsettled dead letters back.
pub struct DeadLetters {
    source: Destination,
    inner: Box<dyn Consumer>,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl DeadLetters {
    pub(crate) fn new(source: Destination, inner: Box<dyn Consumer>) -> Self {
        Self { source, inner }
    }

    /// The queue whose dead letters this reads.
    pub fn source(&self) -> &Destination {
        &self.source
    }

    /// The next dead letter; `None` once closed. Cancel-safe.
    pub async fn next(&mut self) -> Option<DeadLetter> {
        let delivery = self.inner.next().await?;
        Some(DeadLetter::from_delivery(self.source.clone(), delivery))
    }

    /// Up to `max` dead letters: waits up to `first` for one, then takes what arrives
    /// within `idle` of the previous one. For one-shot readers (tests, tools); a
    /// long-running reader loops on [`DeadLetters::next`].
    pub async fn drain(&mut self, max: usize, first: Duration, idle: Duration) -> Vec<DeadLetter> {
        let mut out = Vec::new();
        let mut wait = first;
        while out.len() < max {
            match tokio::time::timeout(wait, self.next()).await {
                Ok(Some(dead)) => out.push(dead),
                Ok(None) | Err(_) => break,
            }
            wait = idle;
        }
        out
    }

    /// Stops consuming; unsettled dead letters stay in their queue.
    pub async fn close(self) {
        self.inner.close().await;
    }
}
