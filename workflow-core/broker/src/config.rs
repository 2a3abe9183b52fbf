//! Connection settings shared by both backends.

/// How to reach RabbitMQ and how to name things there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConfig {
    /// AMQP URI. Default `amqp://guest:guest@127.0.0.1:5672/%2f` (the local
    /// broker, vhost `/`).
    pub url: String,
    /// Prefix of every exchange and queue name, so that several Rex
    /// installations (or test runs) can share one vhost. Default `rex`.
    pub prefix: String,
    /// How many times a message may be handed back (nack with requeue, or its
    /// consumer lost) before it is dead-lettered; the message is delivered at
    /// most `delivery_limit + 1` times. Default 5.
    pub delivery_limit: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            prefix: "rex".into(),
            delivery_limit: 5,
        }
    }
}
