//! Building the store, the broker and the engine from the global options.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use rex_agents::simulation::SkipClock;
use rex_broker::{
    AmqpBroker, Broker, BrokerConfig, BrokerError, Consumer, Destination, MemoryBroker, Message,
    QueueStats,
};
use rex_core::protocol::{Clock, SystemClock};
use rex_core::validate::ValidateOptions;
use rex_engine::{Catalog, Engine};
use rex_store::Store;
use tokio_util::sync::CancellationToken;

use crate::cli::{DEFAULT_AMQP_URL, DEFAULT_DATABASE_URL, Global};

/// The agents this build of Rex can run; definitions naming others are rejected.
pub fn known_agents() -> Vec<String> {
    rex_workers::builtin::NAMES
        .iter()
        .chain(rex_agents::NAMES.iter())
        .map(|s| (*s).to_owned())
        .collect()
}

/// The agents a worker of this build can run: the engine's built-ins and the domain
/// agents, their providers configured from the environment (dry-run without keys).
/// `store` holds the domain tables; without it `deliverability` and `outreach` are left
/// out. With an `engine` (on the same store), `outreach.handle_event` is offered too.
pub fn registry(
    store: Option<Store>,
    engine: Option<Engine>,
) -> anyhow::Result<rex_workers::Registry> {
    registry_with_clock(store, engine, None)
}

/// [`registry`], with the agents reading time from `clock` (a simulated run) instead of
/// the wall.
pub fn registry_with_clock(
    store: Option<Store>,
    engine: Option<Engine>,
    clock: Option<Arc<SkipClock>>,
) -> anyhow::Result<rex_workers::Registry> {
    let mut registry = rex_workers::Registry::builtin();
    let mut config = rex_agents::AgentsConfig::from_env()?;
    if let Some(clock) = clock {
        config.clock = clock;
    }
    match (store, engine) {
        (Some(store), Some(engine)) => {
            rex_agents::register_with_engine(&mut registry, config, store, engine)?
        }
        (store, _) => rex_agents::register(&mut registry, config, store)?,
    }
    Ok(registry)
}

/// Runs the inbox consumer (provider webhooks the API took → `handle_event`) until
/// `shutdown`: wherever the `outreach` agent runs, `concurrency` events at a time.
pub fn spawn_inbox(
    store: Store,
    engine: Engine,
    broker: Arc<dyn Broker>,
    concurrency: u16,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let config = rex_agents::AgentsConfig::from_env()?;
    let inbox = rex_agents::inbox_consumer(&config, store, engine)?;
    Ok(tokio::spawn(async move {
        if let Err(err) = inbox.run(broker, concurrency, shutdown).await {
            tracing::error!(error = %err, "inbox consumer stopped");
        }
    }))
}

pub fn validate_options() -> ValidateOptions {
    ValidateOptions {
        known_agents: Some(known_agents()),
        ..ValidateOptions::default()
    }
}

/// Connects to the configured database (the default unless `url` overrides it) and
/// brings its schema up to date.
pub async fn store(g: &Global, url: Option<&str>) -> anyhow::Result<Store> {
    let url = url
        .or(g.database_url.as_deref())
        .unwrap_or(DEFAULT_DATABASE_URL);
    let store = Store::connect(url, g.db_max_connections)
        .await
        .with_context(|| format!("cannot open the database {}", redact(url)))?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// RabbitMQ at the configured URL, or the default local one.
pub async fn amqp(g: &Global) -> anyhow::Result<Arc<dyn Broker>> {
    let url = g
        .amqp_url
        .clone()
        .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned());
    let broker = AmqpBroker::connect(BrokerConfig {
        url: url.clone(),
        prefix: g.queue_prefix.clone(),
        delivery_limit: g.delivery_limit,
    })
    .await
    .with_context(|| format!("cannot connect to RabbitMQ at {}", redact(&url)))?;
    Ok(Arc::new(broker))
}

/// Deletes the exchanges and queues of `agents` (and the results queue) under the
/// configured prefix.
pub async fn delete_amqp_topology(g: &Global, agents: &[String]) -> anyhow::Result<()> {
    let url = g
        .amqp_url
        .clone()
        .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned());
    let broker = AmqpBroker::connect(BrokerConfig {
        url,
        prefix: g.queue_prefix.clone(),
        delivery_limit: g.delivery_limit,
    })
    .await?;
    broker.delete_topology(agents).await?;
    broker.shutdown().await;
    Ok(())
}

/// RabbitMQ when a URL is configured, else the in-process broker.
pub async fn embedded_broker(g: &Global) -> anyhow::Result<Arc<dyn Broker>> {
    if g.amqp_url.is_some() {
        amqp(g).await
    } else {
        Ok(Arc::new(MemoryBroker::new(g.delivery_limit)))
    }
}

/// The broker for one-shot commands (`rex missions start`): RabbitMQ when configured;
/// otherwise nothing is published from this process and the outbox rows wait for the
/// relay of the running `rex dev`.
pub async fn command_broker(g: &Global) -> anyhow::Result<Arc<dyn Broker>> {
    if g.amqp_url.is_some() {
        amqp(g).await
    } else {
        Ok(Arc::new(OutboxOnly))
    }
}

pub fn engine(store: Store, broker: Arc<dyn Broker>) -> Engine {
    engine_with_clock(store, broker, Arc::new(SystemClock))
}

/// [`engine`] on another clock (a simulated run's).
pub fn engine_with_clock(store: Store, broker: Arc<dyn Broker>, clock: Arc<dyn Clock>) -> Engine {
    let catalog = Catalog::new(store.clone(), validate_options());
    Engine::new(store, broker, catalog, clock)
}

/// Serves `/metrics`, `/healthz` and `/readyz` at the configured address (or
/// `default`) until `shutdown`. Ready means the database and the broker answer. A port
/// already taken is a warning, not a failure: the process still does its work.
pub async fn serve_http(
    g: &Global,
    default: &str,
    store: Store,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) {
    let addr = g.http_addr.clone().unwrap_or_else(|| default.to_owned());
    if addr == "off" {
        return;
    }
    let ready: rex_observability::Readiness = Arc::new(move || {
        let (store, broker) = (store.clone(), broker.clone());
        Box::pin(async move {
            store
                .ping()
                .await
                .map_err(|e| format!("database not reachable: {e}"))?;
            broker
                .queue_stats(&Destination::Results)
                .await
                .map_err(|e| format!("broker not reachable: {e}"))?;
            Ok(())
        })
    });
    match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => {
            tracing::info!(%addr, "metrics, health and readiness on http://{addr}");
            tokio::spawn(async move {
                let stopped = async move { shutdown.cancelled().await };
                if let Err(err) = rex_observability::serve_http(listener, stopped, ready).await {
                    tracing::warn!(error = %err, "http endpoint stopped");
                }
            });
        }
        Err(err) => tracing::warn!(%addr, error = %err, "http endpoint not started"),
    }
}

/// A token cancelled on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are installed before this returns, so a signal that arrives right
/// after the call cancels the token instead of killing the process: call it first
/// thing in a long-running command, before connecting to anything.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signals = Signals::install();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
    token
}

/// SIGINT and SIGTERM, registered with the runtime when created (tokio's `ctrl_c()`
/// would only register on its first poll, inside a spawned task: too late for a
/// signal sent while the process starts).
#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGINT"))
            .ok();
        let terminate = signal(SignalKind::terminate())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM"))
            .ok();
        Self {
            interrupt,
            terminate,
        }
    }

    async fn recv(mut self) {
        async fn next(signal: Option<&mut tokio::signal::unix::Signal>) {
            match signal {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(self.interrupt.as_mut()) => {}
            _ = next(self.terminate.as_mut()) => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn recv(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A broker that publishes nothing: committed outbox rows stay for a relay elsewhere.
struct OutboxOnly;

#[async_trait]
impl Broker for OutboxOnly {
    async fn declare(&self, _agents: &[String]) -> Result<(), BrokerError> {
        Ok(())
    }
    async fn publish(&self, _batch: Vec<(Destination, Message)>) -> Result<(), BrokerError> {
        Err(BrokerError::Unavailable {
            op: "publish",
            cause: "no broker in this process; the relay of `rex dev` publishes the outbox".into(),
        })
    }
    async fn consume(
        &self,
        _source: Destination,
        _prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BrokerError> {
        Err(BrokerError::Closed)
    }
    async fn queue_stats(&self, _source: &Destination) -> Result<QueueStats, BrokerError> {
        Ok(QueueStats::default())
    }
    async fn dead_letter_count(&self, _agent: &str) -> Result<u64, BrokerError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://guest:***@host:5672/%2f"
        );
        assert_eq!(
            redact("sqlite://rex.db?mode=rwc"),
            "sqlite://rex.db?mode=rwc"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
