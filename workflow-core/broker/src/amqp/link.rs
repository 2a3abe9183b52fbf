//! The one AMQP connection of a broker handle, re-established on demand.
//!
//! lapin's own auto-recovery is left off: reconnecting here keeps the policy
//! (back-off with jitter, topology re-declaration, when to give up) in one
//! place that the tests exercise.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{declare::declare, lapin_error, rpc};
use crate::backoff::Backoff;
use crate::error::BrokerError;
use crate::message::Destination;
use crate::topology::Names;

/// A TCP connect to a black-holed address can hang far longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Link {
    url: String,
    connection_name: String,
    names: Names,
    delivery_limit: u32,
    current: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Everything declared through this handle, declared again on reconnect
    /// (the broker may have lost it, e.g. after a reset).
    known: Mutex<BTreeSet<Destination>>,
    shutdown: CancellationToken,
}

impl Link {
    pub(crate) fn new(url: String, names: Names, delivery_limit: u32) -> Self {
        // Shown by `rabbitmqctl list_connections client_properties` and the
        // management UI; the prefix tells installations (and tests) apart.
        let connection_name = format!("rex {} (pid {})", names.prefix(), std::process::id());
        Self {
            url,
            connection_name,
            names,
            delivery_limit,
            current: tokio::sync::Mutex::new(None),
            known: Mutex::new(BTreeSet::new()),
            shutdown: CancellationToken::new(),
        }
    }

    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    pub(crate) fn delivery_limit(&self) -> u32 {
        self.delivery_limit
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub(crate) fn remember(&self, destinations: &[Destination]) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.extend(destinations.iter().cloned());
    }

    fn known(&self) -> Vec<Destination> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.iter().cloned().collect()
    }

    /// The live connection, or one new connection attempt if it is dead.
    /// Concurrent callers share the attempt.
    pub(crate) async fn connection(&self) -> Result<Arc<Connection>, BrokerError> {
        if self.shutdown.is_cancelled() {
            return Err(BrokerError::Closed);
        }
        let mut current = self.current.lock().await;
        if let Some(connection) = current.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        *current = None;
        let connection = Arc::new(self.connect_once().await?);
        // Re-declare before anyone publishes on the new connection.
        let known = self.known();
        if !known.is_empty() {
            let channel = rpc("declare", connection.create_channel()).await?;
            let declaring = declare(&channel, &self.names, self.delivery_limit, &known);
            let declared = rpc("declare", declaring).await;
            close_quietly(&channel).await;
            declared?;
        }
        *current = Some(connection.clone());
        Ok(connection)
    }

    async fn connect_once(&self) -> Result<Connection, BrokerError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.connection_name.as_str().into());
        let unavailable = |cause: String| BrokerError::Unavailable {
            op: "connect",
            cause: format!("{}: {cause}", redact(&self.url)),
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&self.url, properties))
            .await
        {
            Ok(Ok(connection)) => {
                info!(name = %self.connection_name, "connected to RabbitMQ");
                Ok(connection)
            }
            Ok(Err(err)) => match lapin_error("connect", err) {
                BrokerError::Unavailable { cause, .. } => Err(unavailable(cause)),
                refused => Err(refused),
            },
            Err(_) => Err(unavailable(format!("no answer within {CONNECT_TIMEOUT:?}"))),
        }
    }

    /// [`Link::connection`] with back-off until `deadline` (or forever when
    /// `None`), or until shutdown. Non-retryable errors return at once.
    pub(crate) async fn connection_retrying(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Arc<Connection>, BrokerError> {
        let mut backoff = Backoff::reconnect();
        loop {
            let err = match self.connection().await {
                Ok(connection) => return Ok(connection),
                Err(err) if !err.is_retryable() => return Err(err),
                Err(err) => err,
            };
            let delay = backoff.next_delay();
            if deadline.is_some_and(|deadline| Instant::now() + delay >= deadline) {
                return Err(err);
            }
            warn!(error = %err, retry_in = ?delay, "RabbitMQ unavailable");
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(BrokerError::Closed),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// A short-lived channel for declarations and queue inspections.
    pub(crate) async fn channel(&self, op: &'static str) -> Result<Channel, BrokerError> {
        let connection = self.connection().await?;
        rpc(op, connection.create_channel()).await
    }

    /// Stops reconnecting and closes the connection. Bounded: a connection that died
    /// under a half-open network (or a reconnect attempt holding the lock) must not keep
    /// a shutting-down process waiting.
    pub(crate) async fn close(&self) {
        self.shutdown.cancel();
        let closing = async {
            if let Some(connection) = self.current.lock().await.take() {
                let _ = connection.close(200, "shutdown".into()).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), closing).await;
    }
}

/// Closes a channel we are done with; it may already be gone, and a dead
/// connection must not make us wait.
pub(crate) async fn close_quietly(channel: &Channel) {
    if channel.status().connected() {
        let _ =
            tokio::time::timeout(Duration::from_secs(2), channel.close(200, "done".into())).await;
    }
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn the_password_is_left_out_of_error_messages() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }
}
