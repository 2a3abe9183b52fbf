//! Batch publishing with publisher confirms on one long-lived channel.
//!
//! A batch is written to the socket in one go and its confirms are awaited
//! together, so 1,000 messages cost about one round trip, not 1,000. Messages
//! whose confirm was lost with the connection are published again after a
//! reconnect: a duplicate is harmless (consumers deduplicate by message id),
//! a loss is not.

use std::time::Duration;

use futures::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation};
use tokio::time::Instant;
use tracing::warn;

use super::convert::{dead_letter_properties, properties};
use super::link::{Link, close_quietly};
use super::{lapin_error, rpc};
use crate::backoff::Backoff;
use crate::error::BrokerError;
use crate::message::{Destination, Message};
use crate::topology::routing_key;

/// How long a batch keeps retrying through connection trouble before the
/// caller gets a (retryable) error; the outbox relay takes over from there.
const RETRY_WINDOW: Duration = Duration::from_secs(60);
/// Confirms not back by then are treated as lost with the connection.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Publisher {
    channel: tokio::sync::Mutex<Option<Channel>>,
}

enum Outcome {
    Confirmed,
    /// Lost with the channel or connection: publish again.
    Retry(BrokerError),
    Failed(BrokerError),
}

impl Publisher {
    pub(crate) fn new() -> Self {
        Self {
            channel: tokio::sync::Mutex::new(None),
        }
    }

    /// The confirm-mode channel, opened on first use and after it died.
    async fn channel(&self, link: &Link) -> Result<Channel, BrokerError> {
        let mut current = self.channel.lock().await;
        if let Some(channel) = current.as_ref()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        *current = None;
        let channel = link.channel("publish").await?;
        let confirming = channel.confirm_select(ConfirmSelectOptions::default());
        if let Err(err) = rpc("publish", confirming).await {
            close_quietly(&channel).await;
            return Err(err);
        }
        *current = Some(channel.clone());
        Ok(channel)
    }

    async fn discard(&self, channel: &Channel) {
        let mut current = self.channel.lock().await;
        if current.as_ref().is_some_and(|c| c.id() == channel.id()) {
            *current = None;
        }
        drop(current);
        close_quietly(channel).await;
    }

    pub(crate) async fn publish(
        &self,
        link: &Link,
        batch: &[(Destination, Message)],
    ) -> Result<(), BrokerError> {
        if link.shutdown_token().is_cancelled() {
            return Err(BrokerError::Closed);
        }
        let exchange = short(link.names().exchange())?;
        let mut prepared = Vec::with_capacity(batch.len());
        for (destination, message) in batch {
            message.validate()?;
            crate::topology::validate_destination(destination)?;
            prepared.push((
                destination,
                message,
                short(routing_key(destination))?,
                properties(message)?,
            ));
        }
        let deadline = Instant::now() + RETRY_WINDOW;
        let mut backoff = Backoff::reconnect();
        let mut pending: Vec<usize> = (0..prepared.len()).collect();
        loop {
            let lost = match self.channel(link).await {
                Err(err) if !err.is_retryable() => return Err(err),
                Err(err) => err,
                Ok(channel) => {
                    let outcomes = join_all(pending.iter().map(|&index| {
                        let (destination, message, key, props) = &prepared[index];
                        publish_one(&channel, &exchange, destination, message, key, props)
                    }))
                    .await;
                    let mut retry = Vec::new();
                    let mut lost = None;
                    for (index, outcome) in pending.iter().zip(outcomes) {
                        match outcome {
                            Outcome::Confirmed => {}
                            Outcome::Failed(err) => return Err(err),
                            Outcome::Retry(err) => {
                                retry.push(*index);
                                lost.get_or_insert(err);
                            }
                        }
                    }
                    let Some(lost) = lost else { return Ok(()) };
                    self.discard(&channel).await;
                    pending = retry;
                    lost
                }
            };
            if link.shutdown_token().is_cancelled() {
                return Err(BrokerError::Closed);
            }
            let delay = backoff.next_delay();
            if Instant::now() + delay >= deadline {
                return Err(lost);
            }
            warn!(error = %lost, unconfirmed = pending.len(), retry_in = ?delay,
                "publish interrupted; publishing the unconfirmed messages again");
            tokio::time::sleep(delay).await;
            // Waits out the outage (within the window) rather than burning
            // attempts on a connection that is not back yet.
            link.connection_retrying(Some(deadline)).await?;
        }
    }
}

async fn publish_one(
    channel: &Channel,
    exchange: &ShortString,
    destination: &Destination,
    message: &Message,
    key: &ShortString,
    props: &lapin::BasicProperties,
) -> Outcome {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirm = async {
        channel
            .basic_publish(
                exchange.clone(),
                key.clone(),
                options,
                &message.body,
                props.clone(),
            )
            .await?
            .await
    };
    let confirmation = match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
        Ok(Ok(confirmation)) => confirmation,
        Ok(Err(err)) => {
            return match lapin_error("publish", err) {
                err if err.is_retryable() => Outcome::Retry(err),
                err => Outcome::Failed(err),
            };
        }
        Err(_) => {
            return Outcome::Retry(BrokerError::Unavailable {
                op: "publish",
                cause: format!("no publisher confirm within {CONFIRM_TIMEOUT:?}"),
            });
        }
    };
    let unroutable = || BrokerError::Unroutable {
        destination: destination.clone(),
        id: message.id.clone(),
    };
    match confirmation {
        Confirmation::Ack(None) => Outcome::Confirmed,
        // mandatory + no binding: basic.return, then the ack
        Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => Outcome::Failed(unroutable()),
        Confirmation::Nack(None) => Outcome::Failed(BrokerError::Nacked {
            destination: destination.clone(),
            id: message.id.clone(),
        }),
        // Only if confirm mode were off: the message's fate is unknown.
        Confirmation::NotRequested => Outcome::Retry(BrokerError::Unavailable {
            op: "publish",
            cause: "the channel is not in confirm mode".into(),
        }),
    }
}

/// Publishes one message to the dead-letter exchange with `error` in its headers, on a
/// short-lived confirm channel: the path is rare (a consumer giving up), and keeping it
/// off the shared publishing channel keeps that channel's batches simple.
pub(crate) async fn publish_dead_letter(
    link: &Link,
    source: &Destination,
    message: &Message,
    error: &str,
) -> Result<(), BrokerError> {
    let exchange = short(link.names().dead_letter_exchange())?;
    let key = short(routing_key(source))?;
    let props = dead_letter_properties(message, error)?;
    let channel = link.channel("dead_letter").await?;
    let outcome = match rpc(
        "dead_letter",
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await
    {
        Ok(()) => publish_one(&channel, &exchange, source, message, &key, &props).await,
        Err(err) => Outcome::Failed(err),
    };
    close_quietly(&channel).await;
    match outcome {
        Outcome::Confirmed => Ok(()),
        Outcome::Retry(err) | Outcome::Failed(err) => Err(err),
    }
}

fn short(name: String) -> Result<ShortString, BrokerError> {
    ShortString::try_new(name.clone()).map_err(|err| BrokerError::InvalidAgent {
        name,
        reason: err.to_string(),
    })
}
