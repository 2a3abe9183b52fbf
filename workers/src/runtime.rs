//! The worker runtime: one consumer per agent queue, bounded concurrency, leased
//! checkpoints, acks only after the outcome is committed and the result confirmed,
//! graceful shutdown.
//!
//! Per task: claim the attempt's checkpoint (one batched write). A finished attempt is
//! answered from its checkpoint and never run again; an attempt another live worker
//! holds (a duplicate copy of the task) is handed back to the queue until its lease
//! passes; otherwise the agent runs while a heartbeat renews the lease, the outcome is
//! recorded (one batched write), the result published with a confirm, and the task
//! acked. A worker that dies stops renewing: its lease passes and the redelivered task
//! runs elsewhere.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rex_broker::{Broker, Delivery, Destination, Message};
use rex_core::protocol::{
    HEADER_ATTEMPT, HEADER_KIND, HEADER_MISSION, HEADER_STEP, Outcome, ResultMessage, TaskMessage,
};
use rex_observability::{FailureKind, StepRef, metrics, propagation, spans};
use rex_store::entity::attempts;
use rex_store::{AttemptOutcome, Claim, NewAttempt, Store};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, warn};

use crate::checkpoint::{Checkpointer, with_retries};
use crate::{Agent, StepError, TaskContext, WorkerError};

/// Worker tuning.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Attempts run at once per agent in this process (default 16).
    pub concurrency: usize,
    /// Unacknowledged tasks the broker may push per agent queue (default 2 × concurrency).
    pub prefetch: u16,
    /// How long in-flight attempts may run on after a shutdown request (default 30 s);
    /// after that they are cancelled and their tasks go back to the queue.
    pub shutdown_grace: Duration,
    /// Names this process in results and checkpoints (default `<hostname>-<pid>`).
    pub worker_id: String,
    /// How long a claimed attempt stays this worker's without a heartbeat (default
    /// 30 s; renewed every third of it). After a worker dies, its tasks run elsewhere
    /// once this has passed.
    pub lease: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            prefetch: 32,
            shutdown_grace: Duration::from_secs(30),
            worker_id: default_worker_id(),
            lease: Duration::from_secs(30),
        }
    }
}

fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A worker process's agents and their shared resources.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    broker: Arc<dyn Broker>,
    config: WorkerConfig,
}

/// What the agents' loops of one running worker share.
#[derive(Clone)]
struct Running {
    checkpointer: Checkpointer,
    /// Keys of the attempts running now, whose leases the heartbeat renews.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// How a task ends in this worker.
enum Answer {
    /// Publish this result, then ack.
    Result(ResultMessage),
    /// Another worker holds the attempt: hand the task back after this pause.
    Busy(Duration),
    /// The mission ended while the task was queued: ack it, run nothing.
    Void,
}

impl Worker {
    pub fn new(store: Store, broker: Arc<dyn Broker>, config: WorkerConfig) -> Self {
        Self {
            store,
            broker,
            config,
        }
    }

    /// Consumes every agent's queue until `shutdown`, then stops taking tasks, lets the
    /// in-flight ones finish within the grace period, and returns.
    pub async fn run(
        &self,
        agents: Vec<Arc<dyn Agent>>,
        shutdown: CancellationToken,
    ) -> Result<(), WorkerError> {
        let names: Vec<String> = agents.iter().map(|a| a.name().to_owned()).collect();
        self.broker.declare(&names).await?;
        let running = Running {
            checkpointer: Checkpointer::start(self.store.clone(), self.config.lease),
            in_flight: Arc::default(),
        };
        let stop_heartbeat = CancellationToken::new();
        let heartbeat = tokio::spawn(
            self.clone()
                .heartbeat(running.in_flight.clone(), stop_heartbeat.clone()),
        );
        let loops = agents
            .into_iter()
            .map(|agent| self.consume(agent, running.clone(), shutdown.clone()));
        let results = futures::future::join_all(loops).await;
        stop_heartbeat.cancel();
        let _ = heartbeat.await;
        results.into_iter().collect()
    }

    /// Renews the leases of the running attempts every third of the lease.
    async fn heartbeat(self, in_flight: Arc<Mutex<HashSet<String>>>, stop: CancellationToken) {
        let every = (self.config.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let keys: Vec<String> = in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect();
            if keys.is_empty() {
                continue;
            }
            let renewing =
                self.store
                    .extend_leases(&self.config.worker_id, &keys, self.config.lease);
            match renewing.await {
                Ok(n) => debug!(renewed = n, running = keys.len(), "leases renewed"),
                Err(err) => warn!(error = %err, "lease renewal failed"),
            }
        }
    }

    async fn consume(
        &self,
        agent: Arc<dyn Agent>,
        running: Running,
        shutdown: CancellationToken,
    ) -> Result<(), WorkerError> {
        let mut consumer = self
            .broker
            .consume(
                Destination::Agent(agent.name().to_owned()),
                self.config.prefetch,
            )
            .await?;
        info!(
            agent = agent.name(),
            concurrency = self.config.concurrency,
            "worker consuming"
        );
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let tracker = TaskTracker::new();
        // Cancelled only when the grace period is over: lets agents abort cleanly.
        let hard_stop = CancellationToken::new();
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = consumer.next() => match next {
                    Some(d) => d,
                    None => break,
                },
            };
            let this = self.clone();
            let agent = agent.clone();
            let running = running.clone();
            let cancel = hard_stop.child_token();
            tracker.spawn(async move {
                this.handle(agent, &running, delivery, cancel).await;
                drop(permit);
            });
        }
        tracker.close();
        let in_flight = tracker.len();
        if in_flight > 0 {
            info!(
                agent = agent.name(),
                in_flight, "finishing in-flight tasks before exit"
            );
        }
        if tokio::time::timeout(self.config.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            warn!(
                agent = agent.name(),
                "grace period over; handing unfinished tasks back"
            );
            hard_stop.cancel();
            tracker.wait().await;
        }
        // Closing hands every delivery not acked yet back to the queue.
        consumer.close().await;
        Ok(())
    }

    /// One task, from delivery to ack (or hand-back).
    async fn handle(
        &self,
        agent: Arc<dyn Agent>,
        running: &Running,
        delivery: Delivery,
        cancel: CancellationToken,
    ) {
        let task: TaskMessage = match serde_json::from_slice(&delivery.message.body) {
            Ok(task) => task,
            Err(err) => {
                warn!(message_id = %delivery.message.id, error = %err, "unreadable task dead-lettered");
                let _ = delivery.nack(false).await;
                return;
            }
        };
        // A child of the orchestrator's publish span, through the task's headers.
        let queue = format!("rex.agent.{}", agent.name());
        let span = spans::process_span(&queue, &delivery.message.id);
        propagation::set_parent(&span, &delivery.message.headers);
        spans::record_step(
            &span,
            &StepRef::new(
                &task.mission_id,
                &task.step_id,
                task.attempt,
                agent.name(),
                &task.action,
            ),
        );
        async {
            match self.process(&agent, running, &task, cancel).await {
                Ok(Answer::Result(result)) => match self.publish_result(result).await {
                    Ok(()) => {
                        let _ = delivery.ack().await;
                    }
                    Err(err) => {
                        warn!(error = %err, "result not published; task requeued");
                        let _ = delivery.nack(true).await;
                    }
                },
                Ok(Answer::Void) => {
                    info!("mission ended before its queued task ran; task dropped");
                    let _ = delivery.ack().await;
                }
                Ok(Answer::Busy(pause)) => {
                    debug!(
                        ?pause,
                        "another worker holds this attempt; handing the copy back"
                    );
                    tokio::time::sleep(pause).await;
                    let _ = delivery.nack(true).await;
                }
                Err(WorkerError::BadTask(why)) => {
                    warn!(why, "bad task dead-lettered");
                    let _ = delivery.nack(false).await;
                }
                Err(WorkerError::Interrupted) => {
                    let _ = delivery.nack(true).await;
                }
                Err(err) => {
                    warn!(error = %err, "checkpoint failed; task requeued");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = delivery.nack(true).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Claims the attempt and runs it unless its checkpoint says otherwise.
    async fn process(
        &self,
        agent: &Arc<dyn Agent>,
        running: &Running,
        task: &TaskMessage,
        cancel: CancellationToken,
    ) -> Result<Answer, WorkerError> {
        let mission_id = uuid::Uuid::parse_str(&task.mission_id).map_err(|_| {
            WorkerError::BadTask(format!("mission id {:?} is not a uuid", task.mission_id))
        })?;
        let attempt = NewAttempt {
            key: task.idempotency_key.clone(),
            mission_id,
            step_id: task.step_id.clone(),
            attempt: task.attempt as i32,
            agent: agent.name().to_owned(),
            worker: Some(self.config.worker_id.clone()),
        };
        match running.checkpointer.claim(attempt.clone()).await? {
            // Finished before (a redelivery): answer from the checkpoint, run nothing.
            Claim::Finished(row) => return Ok(Answer::Result(self.result_from(task, &row))),
            Claim::Busy(row) => {
                let left = row
                    .lease_until
                    .map(|until| (until - Utc::now()).to_std().unwrap_or_default())
                    .unwrap_or_default();
                return Ok(Answer::Busy(
                    left.clamp(Duration::from_millis(200), Duration::from_secs(5)),
                ));
            }
            Claim::MissionEnded(_) => {
                let key = std::slice::from_ref(&task.idempotency_key);
                with_retries(|| {
                    self.store
                        .skip_attempts(key, "not run: the mission had ended")
                })
                .await?;
                return Ok(Answer::Void);
            }
            Claim::Run(_) => {}
        }

        let key = task.idempotency_key.clone();
        running
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        let started_at = Utc::now();
        let metrics = metrics();
        metrics.step_started(agent.name(), &task.action);
        if let Ok(latency) = (started_at - task.dispatched_at).to_std() {
            metrics.observe_dispatch_latency(agent.name(), latency);
        }
        let step_span = spans::step_span(&StepRef::new(
            &task.mission_id,
            &task.step_id,
            task.attempt,
            agent.name(),
            &task.action,
        ));
        let outcome = run_agent(agent, task, cancel.clone())
            .instrument(step_span.clone())
            .await;
        let took = (Utc::now() - started_at).to_std().unwrap_or_default();
        match &outcome {
            Ok(_) => metrics.step_succeeded(agent.name(), &task.action, took),
            Err(err) => {
                spans::record_error(&step_span, "step_error", &err.message);
                let kind = if err.retryable {
                    FailureKind::Retryable
                } else {
                    FailureKind::Permanent
                };
                metrics.step_failed(agent.name(), &task.action, kind, Some(took));
            }
        }
        drop(step_span);
        running
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);

        if cancel.is_cancelled() && outcome.is_err() {
            // Interrupted by shutdown: give the lease up so the redelivered task runs
            // elsewhere at once.
            let released = with_retries(|| {
                self.store.extend_leases(
                    &self.config.worker_id,
                    std::slice::from_ref(&key),
                    Duration::ZERO,
                )
            })
            .await;
            if let Err(err) = released {
                warn!(error = %err, "lease not released; the task waits for it to pass");
            }
            return Err(WorkerError::Interrupted);
        }
        let record = match outcome {
            Ok(output) => AttemptOutcome {
                succeeded: true,
                output: Some(output),
                error: None,
                retryable: None,
            },
            Err(err) => AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some(err.message),
                retryable: Some(err.retryable),
            },
        };
        let row = running
            .checkpointer
            .record((attempt, started_at, record))
            .await?;
        Ok(Answer::Result(self.result_from(task, &row)))
    }

    fn result_from(&self, task: &TaskMessage, checkpoint: &attempts::Model) -> ResultMessage {
        let outcome = if checkpoint.status == attempts::status::SUCCEEDED {
            Outcome::Succeeded {
                output: checkpoint.output.clone().unwrap_or(serde_json::Value::Null),
            }
        } else {
            Outcome::Failed {
                message: checkpoint.error.clone().unwrap_or_default(),
                retryable: checkpoint.retryable.unwrap_or(false),
            }
        };
        ResultMessage {
            mission_id: task.mission_id.clone(),
            step_id: task.step_id.clone(),
            attempt: task.attempt,
            idempotency_key: task.idempotency_key.clone(),
            outcome,
            worker: self.config.worker_id.clone(),
            finished_at: checkpoint.finished_at.unwrap_or_else(Utc::now),
        }
    }

    async fn publish_result(&self, result: ResultMessage) -> Result<(), WorkerError> {
        let mut headers = [
            (HEADER_MISSION, result.mission_id.clone()),
            (HEADER_STEP, result.step_id.clone()),
            (HEADER_ATTEMPT, result.attempt.to_string()),
            (HEADER_KIND, "result".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let publish = spans::publish_span("rex.results", &result.idempotency_key);
        publish.in_scope(|| propagation::inject_current(&mut headers));
        let message = Message {
            id: result.idempotency_key.clone(),
            headers,
            body: serde_json::to_vec(&result).unwrap_or_default(),
        };
        self.broker
            .publish(vec![(Destination::Results, message)])
            .instrument(publish)
            .await?;
        Ok(())
    }
}

/// Runs the agent's action; an unknown action fails permanently, a panic retryably.
async fn run_agent(
    agent: &Arc<dyn Agent>,
    task: &TaskMessage,
    cancel: CancellationToken,
) -> Result<serde_json::Value, StepError> {
    if !agent.actions().contains(&task.action.as_str()) {
        return Err(StepError::permanent(format!(
            "agent {:?} has no action {:?} (actions: {})",
            agent.name(),
            task.action,
            agent.actions().join(", ")
        )));
    }
    let ctx = TaskContext {
        mission_id: task.mission_id.clone(),
        step_id: task.step_id.clone(),
        attempt: task.attempt,
        action: task.action.clone(),
        idempotency_key: task.idempotency_key.clone(),
        cancel,
    };
    let agent = agent.clone();
    let input = task.input.clone();
    // A panicking agent fails its attempt (retryably) instead of the worker.
    match tokio::spawn(async move { agent.run(&ctx, input).await }).await {
        Ok(result) => result,
        Err(join) => Err(StepError::retryable(format!("agent panicked: {join}"))),
    }
}
