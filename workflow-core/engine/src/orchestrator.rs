//! The orchestrator process: consumes results, applies them in batches, and runs the
//! relay and the timer loop beside it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rex_broker::{Delivery, Destination};
use rex_core::protocol::ResultMessage;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use uuid::Uuid;

use crate::{Engine, EngineError};

/// Orchestrator tuning. Every field has a default suited to a small deployment.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// Unacknowledged results the broker may push to this process (default 512).
    pub prefetch: u16,
    /// Results applied per database transaction at most (default 256).
    pub batch_size: usize,
    /// How often the relay looks for outbox rows left behind (default 1 s).
    pub relay_interval: Duration,
    /// How old an outbox row must be before the relay publishes it (default 5 s); the
    /// live path publishes and deletes its rows well within this.
    pub relay_grace: Duration,
    /// Longest sleep of the timer loop between looks at the timers table (default 200 ms).
    pub timer_poll: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            prefetch: 512,
            batch_size: 256,
            relay_interval: Duration::from_secs(1),
            relay_grace: Duration::from_secs(5),
            timer_poll: Duration::from_millis(200),
        }
    }
}

/// Samples of "result consumed → next tasks confirmed", for `rex bench`.
#[derive(Debug, Clone, Default)]
pub struct LatencyProbe(Arc<Mutex<Vec<Duration>>>);

impl LatencyProbe {
    fn record(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(d);
    }

    /// Takes every sample recorded so far.
    pub fn drain(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A running orchestrator's parts.
pub struct Orchestrator {
    engine: Engine,
    config: OrchestratorConfig,
    probe: Option<LatencyProbe>,
}

impl Orchestrator {
    pub fn new(engine: Engine, config: OrchestratorConfig) -> Self {
        Self {
            engine,
            config,
            probe: None,
        }
    }

    /// Records dispatch latencies into `probe`.
    pub fn with_probe(mut self, probe: LatencyProbe) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Runs the results consumer, the relay and the timer loop until `shutdown`; the
    /// batch in hand is finished before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), EngineError> {
        let results = self.results_loop(shutdown.clone());
        let relay = crate::relay::run(
            self.engine.clone(),
            self.config.relay_interval,
            self.config.relay_grace,
            shutdown.clone(),
        );
        let timers = crate::timers::run(
            self.engine.clone(),
            self.config.timer_poll,
            shutdown.clone(),
        );
        let (a, b, c) = tokio::join!(results, relay, timers);
        a.and(b).and(c)
    }

    async fn results_loop(&self, shutdown: CancellationToken) -> Result<(), EngineError> {
        let mut consumer = self
            .engine
            .broker
            .consume(Destination::Results, self.config.prefetch)
            .await?;
        info!(
            prefetch = self.config.prefetch,
            "orchestrator consuming results"
        );
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = consumer.next() => match next {
                    Some(d) => d,
                    None => break,
                },
            };
            let received = Instant::now();
            let mut batch = vec![first];
            while batch.len() < self.config.batch_size {
                match consumer.next().now_or_never() {
                    Some(Some(d)) => batch.push(d),
                    _ => break,
                }
            }
            let span = info_span!("orchestrator.apply_results", batch = batch.len());
            self.handle_batch(batch).instrument(span).await;
            if let Some(probe) = &self.probe {
                probe.record(received.elapsed());
            }
        }
        consumer.close().await;
        Ok(())
    }

    async fn handle_batch(&self, batch: Vec<Delivery>) {
        let mut events = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        for delivery in batch {
            match parse_result(&delivery) {
                Ok(event) => {
                    events.push(event);
                    accepted.push(delivery);
                }
                Err(why) => {
                    warn!(message_id = %delivery.message.id, why, "unreadable result dead-lettered");
                    let _ = delivery.nack(false).await;
                }
            }
        }
        if events.is_empty() {
            return;
        }
        match self.commit_with_retries(&events).await {
            Ok(committed) => {
                self.engine.finish_commit(committed).await;
                for d in accepted {
                    let _ = d.ack().await;
                }
            }
            Err(err) if err.is_retryable() || accepted.len() == 1 => {
                let requeue = err.is_retryable();
                warn!(error = %err, requeue, "results not applied");
                if requeue {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                for d in accepted {
                    let _ = d.nack(requeue).await;
                }
            }
            Err(err) => {
                // One bad mission must not hold the others back: go one by one.
                warn!(error = %err, "batch failed; applying its results one by one");
                for (event, delivery) in events.into_iter().zip(accepted) {
                    match self.engine.commit(vec![event], &[]).await {
                        Ok(committed) => {
                            self.engine.finish_commit(committed).await;
                            let _ = delivery.ack().await;
                        }
                        Err(err) => {
                            let requeue = err.is_retryable();
                            warn!(error = %err, message_id = %delivery.message.id, requeue, "result not applied");
                            let _ = delivery.nack(requeue).await;
                        }
                    }
                }
            }
        }
    }
}

impl Orchestrator {
    /// Commits, trying again in-process on transient database errors (a serialization
    /// failure, a deadlock with another orchestrator, a busy SQLite file) so the
    /// results are not sent back to the broker, whose delivery limit would eventually
    /// dead-letter them.
    async fn commit_with_retries(
        &self,
        events: &[(Uuid, rex_core::machine::Event)],
    ) -> Result<crate::Committed, EngineError> {
        let mut delay = Duration::from_millis(20);
        let mut tries = 0;
        loop {
            match self.engine.commit(events.to_vec(), &[]).await {
                Err(err) if err.is_retryable() && tries < COMMIT_RETRIES => {
                    tries += 1;
                    warn!(error = %err, tries, "commit failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }
}

/// In-process retries of a transient commit failure before results are requeued.
const COMMIT_RETRIES: u32 = 6;

fn parse_result(delivery: &Delivery) -> Result<(Uuid, rex_core::machine::Event), &'static str> {
    let result: ResultMessage =
        serde_json::from_slice(&delivery.message.body).map_err(|_| "body is not a result")?;
    let mission = Uuid::parse_str(&result.mission_id).map_err(|_| "mission id is not a uuid")?;
    Ok((mission, result.to_event()))
}
