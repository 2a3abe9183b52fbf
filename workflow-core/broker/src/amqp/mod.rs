//! The RabbitMQ backend over lapin: one connection per handle, a confirm-mode
//! publishing channel, a channel per consumer, short-lived channels for
//! declarations and queue inspection.

mod consumer;
mod convert;
mod declare;
mod link;
mod publish;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::ErrorKind;
use lapin::options::{
    BasicAckOptions, BasicNackOptions, ExchangeDeleteOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{FieldTable, ShortString};
use tokio::time::Instant;

use crate::config::BrokerConfig;
use crate::dead_letter::DeadLetters;
use crate::error::BrokerError;
use crate::message::{Destination, Message, QueueStats};
use crate::topology::{Names, validate_destination};
use crate::{Broker, Consumer};
pub(crate) use consumer::AmqpTicket;
use consumer::Queue;
use link::{Link, close_quietly};
use publish::Publisher;

/// How long [`AmqpBroker::connect`] keeps trying before it reports the broker
/// unreachable (RabbitMQ often starts a little after its clients).
const STARTUP_PATIENCE: Duration = Duration::from_secs(3);
/// lapin can leave a request unanswered forever when the connection dies
/// under it; no broker round trip of ours takes anywhere near this long.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);

/// RabbitMQ broker. Cloning gives another handle to the same connection.
#[derive(Clone)]
pub struct AmqpBroker {
    inner: Arc<Inner>,
}

struct Inner {
    link: Arc<Link>,
    publisher: Publisher,
}

impl std::fmt::Debug for AmqpBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBroker")
            .field("prefix", &self.inner.link.names().prefix())
            .finish_non_exhaustive()
    }
}

impl AmqpBroker {
    /// Connects (retrying for a few seconds). The topology is not declared
    /// here: call [`Broker::declare`].
    pub async fn connect(cfg: BrokerConfig) -> Result<Self, BrokerError> {
        let names = Names::new(&cfg.prefix)?;
        let link = Arc::new(Link::new(cfg.url, names, cfg.delivery_limit));
        link.connection_retrying(Some(Instant::now() + STARTUP_PATIENCE))
            .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                link,
                publisher: Publisher::new(),
            }),
        })
    }

    /// Deletes the queues (with their messages) and exchanges of `agents`, of the
    /// results and of the inbox under this handle's prefix: tears down a test's or a benchmark's
    /// namespace. Missing ones are skipped.
    pub async fn delete_topology(&self, agents: &[String]) -> Result<(), BrokerError> {
        let names = self.inner.link.names();
        let destinations = crate::topology::destinations(agents);
        let channel = self.inner.link.channel("delete").await?;
        let mut result = Ok(());
        for destination in &destinations {
            for queue in [
                names.queue(destination),
                names.dead_letter_queue(destination),
            ] {
                let deleting = channel.queue_delete(queue.into(), QueueDeleteOptions::default());
                if let Err(err) = rpc("delete", deleting).await {
                    result = Err(err);
                }
            }
        }
        for exchange in [names.exchange(), names.dead_letter_exchange()] {
            let deleting =
                channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default());
            if let Err(err) = rpc("delete", deleting).await {
                result = Err(err);
            }
        }
        close_quietly(&channel).await;
        result
    }

    /// Message count of a queue, by passive declaration.
    async fn inspect(&self, op: &'static str, queue: String) -> Result<QueueStats, BrokerError> {
        let channel = self.inner.link.channel(op).await?;
        let name =
            ShortString::try_new(queue.clone()).map_err(|err| BrokerError::InvalidAgent {
                name: queue.clone(),
                reason: err.to_string(),
            })?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let result = tokio::time::timeout(
            RPC_TIMEOUT,
            channel.queue_declare(name, passive, FieldTable::default()),
        )
        .await;
        close_quietly(&channel).await;
        match result {
            Ok(Ok(info)) => Ok(QueueStats {
                ready: u64::from(info.message_count()),
                consumers: info.consumer_count(),
            }),
            Ok(Err(err)) if is_not_found(&err) => Err(BrokerError::QueueNotFound { queue }),
            Ok(Err(err)) => Err(lapin_error(op, err)),
            Err(_) => Err(no_answer(op)),
        }
    }
}

#[async_trait]
impl Broker for AmqpBroker {
    async fn declare(&self, agents: &[String]) -> Result<(), BrokerError> {
        let destinations = crate::topology::destinations(agents);
        for destination in &destinations {
            validate_destination(destination)?;
        }
        let link = &self.inner.link;
        link.remember(&destinations);
        let channel = link.channel("declare").await?;
        let declaring =
            declare::declare(&channel, link.names(), link.delivery_limit(), &destinations);
        let result = rpc("declare", declaring).await;
        close_quietly(&channel).await;
        result
    }

    async fn publish(&self, batch: Vec<(Destination, Message)>) -> Result<(), BrokerError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.inner.publisher.publish(&self.inner.link, &batch).await
    }

    async fn consume(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BrokerError> {
        validate_destination(&source)?;
        self.inner.link.remember(std::slice::from_ref(&source));
        let consumer =
            consumer::start(self.inner.link.clone(), source, Queue::Work, prefetch).await?;
        Ok(Box::new(consumer))
    }

    async fn consume_dead_letters(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<DeadLetters, BrokerError> {
        validate_destination(&source)?;
        self.inner.link.remember(std::slice::from_ref(&source));
        let link = self.inner.link.clone();
        let consumer = consumer::start(link, source.clone(), Queue::DeadLetters, prefetch).await?;
        Ok(DeadLetters::new(source, Box::new(consumer)))
    }

    async fn queue_stats(&self, source: &Destination) -> Result<QueueStats, BrokerError> {
        validate_destination(source)?;
        let queue = self.inner.link.names().queue(source);
        self.inspect("queue_stats", queue).await
    }

    async fn dead_letter_count(&self, agent: &str) -> Result<u64, BrokerError> {
        let destination = Destination::Agent(agent.into());
        validate_destination(&destination)?;
        let queue = self.inner.link.names().dead_letter_queue(&destination);
        Ok(self.inspect("dead_letter_count", queue).await?.ready)
    }

    async fn shutdown(&self) {
        self.inner.link.close().await;
    }
}

pub(crate) enum Settle {
    Ack,
    Nack { requeue: bool },
}

/// Runs one broker request with [`RPC_TIMEOUT`], mapping its error.
pub(crate) async fn rpc<T>(
    op: &'static str,
    request: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, BrokerError> {
    match tokio::time::timeout(RPC_TIMEOUT, request).await {
        Ok(result) => result.map_err(|err| lapin_error(op, err)),
        Err(_) => Err(no_answer(op)),
    }
}

fn no_answer(op: &'static str) -> BrokerError {
    BrokerError::Unavailable {
        op,
        cause: format!("no answer within {RPC_TIMEOUT:?}"),
    }
}

impl AmqpTicket {
    pub(crate) async fn settle(&self, id: &str, how: Settle) -> Result<(), BrokerError> {
        let stale = |reason: String| BrokerError::DeliveryStale {
            id: id.into(),
            reason,
        };
        let request = async {
            match how {
                Settle::Ack => self.acker.ack(BasicAckOptions { multiple: false }).await,
                Settle::Nack { requeue } => {
                    let options = BasicNackOptions {
                        multiple: false,
                        requeue,
                    };
                    self.acker.nack(options).await
                }
            }
        };
        // An ack sent as the connection dies may never be answered by lapin;
        // the end of the consumer's session settles the question instead.
        let result = tokio::select! {
            result = tokio::time::timeout(RPC_TIMEOUT, request) => result,
            () = self.session_ended.cancelled() => {
                return Err(stale("its consumer's channel is gone".into()));
            }
        };
        match result {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(stale(
                "its channel was closed, or it was settled already".into(),
            )),
            Ok(Err(err)) => Err(stale(err.to_string())),
            Err(_) => Err(stale(format!("no answer within {RPC_TIMEOUT:?}"))),
        }
    }
}

impl AmqpTicket {
    /// Publishes a copy carrying `error` to the dead-letter exchange (confirmed), then
    /// acks the original. If the ack fails after the copy is confirmed, the original
    /// comes back and may die again: a duplicate with the same message id, which the
    /// reader of the dead-letter queue deduplicates. Never a loss.
    pub(crate) async fn dead_letter(
        self,
        message: Message,
        error: &str,
    ) -> Result<(), BrokerError> {
        publish::publish_dead_letter(&self.link, &self.source, &message, error).await?;
        self.settle(&message.id, Settle::Ack).await
    }
}

fn is_not_found(err: &lapin::Error) -> bool {
    matches!(err.kind(), ErrorKind::ProtocolError(amqp)
        if *amqp.kind() == AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND))
}

/// Channel-level (soft) errors are the broker refusing this request; anything
/// else — IO errors, a connection closed by the server, a missed heartbeat,
/// a channel that died with its connection — is the connection being gone.
pub(crate) fn lapin_error(op: &'static str, err: lapin::Error) -> BrokerError {
    match err.kind() {
        ErrorKind::ProtocolError(amqp) if matches!(amqp.kind(), AMQPErrorKind::Soft(_)) => {
            BrokerError::Refused {
                op,
                cause: err.to_string(),
            }
        }
        _ => BrokerError::Unavailable {
            op,
            cause: err.to_string(),
        },
    }
}
