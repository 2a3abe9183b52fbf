//! Task and result transport of Rex: per-agent task queues, the results queue,
//! the inbox of provider events and dead-lettering, behind one [`Broker`] trait with two backends —
//! [`AmqpBroker`] on RabbitMQ (quorum queues, publisher confirms, manual acks,
//! reconnect with back-off) and [`MemoryBroker`] for the embedded
//! single-process mode, which keeps the same semantics in memory.
//!
//! Delivery is at least once. A message is identified by its own id (the
//! task's idempotency key, carried as the AMQP `message_id`), never by a
//! delivery tag; consumers deduplicate on it. This crate knows nothing of
//! missions, steps or the store: it moves opaque bodies with string headers.

mod amqp;
mod backoff;
mod config;
mod dead_letter;
mod error;
mod memory;
mod message;
mod topology;

use async_trait::async_trait;

pub use amqp::AmqpBroker;
pub use config::BrokerConfig;
pub use dead_letter::{DeadLetter, DeadLetters, UNKNOWN_REASON};
pub use error::BrokerError;
pub use memory::MemoryBroker;
pub use message::{Delivery, Destination, ERROR_HEADER, Message, QueueStats};

/// A message broker as Rex uses it. Object safe: share it as `Arc<dyn Broker>`.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Idempotent: the exchanges, the results queue, the inbox of provider events,
    /// and per agent its queue; each with its dead-letter queue.
    async fn declare(&self, agents: &[String]) -> Result<(), BrokerError>;

    /// Publishes every message persistently and returns once every one is
    /// confirmed by the broker. A message the broker refuses (nack), one that
    /// no queue takes (an undeclared agent), or a connection that stays down
    /// is an `Err`; after an `Err` any part of the batch may have been
    /// published, so the caller publishes the whole batch again.
    async fn publish(&self, batch: Vec<(Destination, Message)>) -> Result<(), BrokerError>;

    /// A consumer with manual acknowledgement and at most `prefetch`
    /// unacknowledged deliveries (0: unbounded). It declares its queue, and
    /// survives connection loss: unacknowledged deliveries of the lost
    /// connection are redelivered, and [`Consumer::next`] keeps going after
    /// the reconnect. Consumers of one queue share it round-robin.
    async fn consume(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BrokerError>;

    /// Messages ready in the queue (not counting unacknowledged ones) and its
    /// consumers, for metrics and autoscaling.
    async fn queue_stats(&self, source: &Destination) -> Result<QueueStats, BrokerError>;

    /// Messages currently in the agent's dead-letter queue.
    async fn dead_letter_count(&self, agent: &str) -> Result<u64, BrokerError>;

    /// A consumer of the dead-letter queue of `source` (an agent's tasks, or the
    /// results), with manual acknowledgement and at most `prefetch` unsettled dead
    /// letters. Each comes with its original destination and why it died. Declares the
    /// queues like [`Broker::consume`]. The default refuses: a broker that keeps no
    /// dead letters (a test double, a publish-only stand-in) has none to give.
    async fn consume_dead_letters(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<DeadLetters, BrokerError> {
        let _ = (source, prefetch);
        Err(BrokerError::Refused {
            op: "consume_dead_letters",
            cause: "this broker keeps no dead-letter queues".into(),
        })
    }

    /// Ends every consumer of this broker (their `next()` returns `None`,
    /// their unacknowledged deliveries are requeued) and closes the
    /// connection; later calls fail with [`BrokerError::Closed`].
    async fn shutdown(&self) {}
}

/// The receiving end of [`Broker::consume`]. Dropping it is the same as
/// closing it, without waiting.
#[async_trait]
pub trait Consumer: Send {
    /// The next delivery; `None` only once the consumer or its broker is
    /// closed. Cancel-safe: nothing is lost if the future is dropped.
    async fn next(&mut self) -> Option<Delivery>;

    /// Stops consuming; unacknowledged deliveries go back to the queue
    /// (marked redelivered) and can no longer be acked from here.
    async fn close(self: Box<Self>);
}
