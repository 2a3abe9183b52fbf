//! The orchestrator process: consumes results, applies them in batches, and runs the
//! relay and the timer loop beside it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rex_broker::{Delivery, Destination};
use rex_core::protocol::{EventMessage, HEADER_KIND, KIND_EVENT, ResultMessage};
use rex_observability::{propagation, spans};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
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
    /// Batches applied at once (default 4): while one batch waits for its commit or
    /// its publisher confirms, the next is already being applied. Missions are locked
    /// in id order, so concurrent batches never deadlock.
    pub apply_concurrency: usize,
    /// How often the relay looks for outbox rows left behind (default 1 s).
    pub relay_interval: Duration,
    /// How old an outbox row must be before the relay publishes it (default 5 s); the
    /// live path publishes and deletes its rows well within this.
    pub relay_grace: Duration,
    /// Longest sleep of the timer loop between looks at the timers table (default 200 ms).
    pub timer_poll: Duration,
    /// How often queue depths, mission counts and the outbox backlog are sampled into
    /// the metrics (default 15 s, Prometheus' usual scrape interval).
    pub metrics_interval: Duration,
    /// The agents whose queues are sampled, and whose dead-letter queues are drained
    /// into the `dead_letters` table (the results' always are).
    pub agents: Vec<String>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            prefetch: 512,
            batch_size: 256,
            apply_concurrency: 4,
            relay_interval: Duration::from_secs(1),
            relay_grace: Duration::from_secs(5),
            timer_poll: Duration::from_millis(200),
            metrics_interval: Duration::from_secs(15),
            agents: Vec::new(),
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
#[derive(Clone)]
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

    /// Runs the results consumer, the relay, the timer loop and the dead-letter drain
    /// until `shutdown`; the batch in hand is finished before returning.
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
        let gauges = crate::gauges::run(
            self.engine.clone(),
            self.config.agents.clone(),
            self.config.metrics_interval,
            shutdown.clone(),
        );
        let dead_letters = crate::dead_letters::run(
            self.engine.clone(),
            self.config.agents.clone(),
            shutdown.clone(),
        );
        let (a, b, c, (), ()) = tokio::join!(results, relay, timers, gauges, dead_letters);
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
            apply_concurrency = self.config.apply_concurrency,
            "orchestrator consuming results"
        );
        let (janitor, janitor_task) = Janitor::start(self.engine.clone());
        let slots = Arc::new(Semaphore::new(self.config.apply_concurrency.max(1)));
        let tracker = TaskTracker::new();
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
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
            let this = self.clone();
            let janitor = janitor.clone();
            let span = info_span!("orchestrator.apply_results", batch = batch.len());
            tracker.spawn(
                async move {
                    this.handle_batch(batch, received, &janitor).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
        // Finish the batches in hand before stopping.
        tracker.close();
        tracker.wait().await;
        drop(janitor);
        let _ = janitor_task.await;
        consumer.close().await;
        Ok(())
    }

    async fn handle_batch(&self, batch: Vec<Delivery>, received: Instant, janitor: &Janitor) {
        let mut events = Vec::with_capacity(batch.len());
        let mut accepted = Vec::with_capacity(batch.len());
        for delivery in batch {
            if delivery.message.headers.contains_key("traceparent") {
                // Marks the result's arrival in the mission's trace.
                let span = spans::process_span("rex.results", &delivery.message.id);
                propagation::set_parent(&span, &delivery.message.headers);
            }
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
                // The results' effects are committed: ack them while the new tasks are
                // published (the outbox guarantees those).
                let acks = futures::future::join_all(accepted.into_iter().map(Delivery::ack));
                let publish = async {
                    let published = self.engine.publish_committed(committed).await;
                    if let Some(probe) = &self.probe {
                        probe.record(received.elapsed());
                    }
                    if let Some(ids) = published {
                        janitor.delete(ids);
                    }
                };
                tokio::join!(acks, publish);
            }
            Err(err) if err.is_retryable() || accepted.len() == 1 => {
                let requeue = err.is_retryable();
                warn!(error = %err, requeue, "results not applied");
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

/// Deletes published outbox rows in bulk, off the dispatch path: one statement for
/// whatever accumulated while the previous one ran. Rows not deleted yet are only
/// republished by a relay after its grace period, far longer than this lag.
#[derive(Clone)]
struct Janitor(mpsc::UnboundedSender<Vec<i64>>);

impl Janitor {
    fn start(engine: Engine) -> (Janitor, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<i64>>();
        let task = tokio::spawn(async move {
            while let Some(mut ids) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    ids.extend(more);
                }
                engine.delete_published(&ids).await;
            }
        });
        (Janitor(tx), task)
    }

    fn delete(&self, ids: Vec<i64>) {
        if !ids.is_empty() {
            let _ = self.0.send(ids);
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

/// A worker's result, or an event the engine sent a mission through the results queue
/// (a child telling its parent it finished, a parent cancelling a child).
fn parse_result(delivery: &Delivery) -> Result<(Uuid, rex_core::machine::Event), &'static str> {
    let is_event = delivery
        .message
        .headers
        .get(HEADER_KIND)
        .is_some_and(|k| k == KIND_EVENT);
    let (mission, event) = if is_event {
        let message: EventMessage =
            serde_json::from_slice(&delivery.message.body).map_err(|_| "body is not an event")?;
        (message.mission_id, message.event)
    } else {
        let result: ResultMessage =
            serde_json::from_slice(&delivery.message.body).map_err(|_| "body is not a result")?;
        let event = result.to_event();
        (result.mission_id, event)
    };
    let mission = Uuid::parse_str(&mission).map_err(|_| "mission id is not a uuid")?;
    Ok((mission, event))
}
