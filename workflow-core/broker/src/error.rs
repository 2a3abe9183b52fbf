//! The crate's one error type.

use crate::message::Destination;

/// Everything that can go wrong while talking to a broker.
///
/// [`BrokerError::is_retryable`] tells a caller whether trying the same operation
/// again later can succeed: the connection-level variants are transient; a
/// message the broker cannot route, or a topology it refuses, is not.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be reached, or the connection dropped while an
    /// operation was in flight (after the crate's own reconnect attempts).
    #[error("broker unavailable during {op}: {cause}")]
    Unavailable { op: &'static str, cause: String },

    /// No queue is bound for the destination: the agent was never declared.
    #[error(
        "{destination}: message {id:?} is unroutable (no queue is bound; declare the agent first)"
    )]
    Unroutable {
        destination: Destination,
        id: String,
    },

    /// The broker acknowledged receipt negatively (publisher confirm `nack`):
    /// it could not take responsibility for the message.
    #[error("{destination}: message {id:?} was nacked by the broker")]
    Nacked {
        destination: Destination,
        id: String,
    },

    /// The message cannot be expressed in AMQP (empty id, a field over 255 bytes…).
    #[error("invalid message {id:?}: {reason}")]
    InvalidMessage { id: String, reason: String },

    /// An agent name that cannot become a queue name.
    #[error("invalid agent name {name:?}: {reason}")]
    InvalidAgent { name: String, reason: String },

    /// The broker refused the operation (a queue declared with other
    /// arguments, access refused, a missing exchange…).
    #[error("{op} refused by the broker: {cause}")]
    Refused { op: &'static str, cause: String },

    /// The queue asked about does not exist.
    #[error("queue {queue:?} does not exist")]
    QueueNotFound { queue: String },

    /// The delivery can no longer be settled: its consumer or channel is gone.
    /// The broker has requeued (or will requeue) the message, so it is
    /// redelivered; there is nothing to retry here.
    #[error("message {id:?} can no longer be settled ({reason}); the broker will redeliver it")]
    DeliveryStale { id: String, reason: String },

    /// The broker handle was shut down.
    #[error("broker is shut down")]
    Closed,
}

impl BrokerError {
    /// Whether the same operation may succeed if tried again after a back-off.
    pub fn is_retryable(&self) -> bool {
        match self {
            BrokerError::Unavailable { .. } | BrokerError::Nacked { .. } => true,
            BrokerError::Unroutable { .. }
            | BrokerError::InvalidMessage { .. }
            | BrokerError::InvalidAgent { .. }
            | BrokerError::Refused { .. }
            | BrokerError::QueueNotFound { .. }
            | BrokerError::DeliveryStale { .. }
            | BrokerError::Closed => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_retryable_and_routing_trouble_is_not() {
        let lost = BrokerError::Unavailable {
            op: "publish",
            cause: "connection reset".into(),
        };
        assert!(lost.is_retryable());
        let unroutable = BrokerError::Unroutable {
            destination: Destination::Agent("scrapper".into()),
            id: "t-1".into(),
        };
        assert!(!unroutable.is_retryable());
        assert_eq!(
            unroutable.to_string(),
            "agent \"scrapper\": message \"t-1\" is unroutable (no queue is bound; declare the agent first)"
        );
    }
}
