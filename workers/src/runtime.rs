//! The worker runtime: one consumer per agent queue, bounded concurrency, checkpoints
//! before acks, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rex_broker::{Broker, Delivery, Destination, Message};
use rex_core::protocol::{
    HEADER_ATTEMPT, HEADER_KIND, HEADER_MISSION, HEADER_STEP, Outcome, ResultMessage, TaskMessage,
};
use rex_store::entity::attempts;
use rex_store::{AttemptOutcome, NewAttempt, Store};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

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
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            prefetch: 32,
            shutdown_grace: Duration::from_secs(30),
            worker_id: default_worker_id(),
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
        let loops = agents
            .into_iter()
            .map(|agent| self.consume(agent, shutdown.clone()));
        for result in futures::future::join_all(loops).await {
            result?;
        }
        Ok(())
    }

    async fn consume(
        &self,
        agent: Arc<dyn Agent>,
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
            let cancel = hard_stop.child_token();
            tracker.spawn(async move {
                this.handle(agent, delivery, cancel).await;
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

    /// One task: checkpoint lookup, run, checkpoint, publish the result, ack.
    async fn handle(&self, agent: Arc<dyn Agent>, delivery: Delivery, cancel: CancellationToken) {
        let task: TaskMessage = match serde_json::from_slice(&delivery.message.body) {
            Ok(task) => task,
            Err(err) => {
                warn!(message_id = %delivery.message.id, error = %err, "unreadable task dead-lettered");
                let _ = delivery.nack(false).await;
                return;
            }
        };
        let span = info_span!(
            "worker.execute",
            rex.mission.id = %task.mission_id,
            rex.step.id = %task.step_id,
            rex.step.attempt = task.attempt,
            rex.agent = agent.name(),
            redelivered = delivery.redelivered,
        );
        async {
            match self.execute(&agent, &task, cancel).await {
                Ok(result) => match self.publish_result(result).await {
                    Ok(()) => {
                        let _ = delivery.ack().await;
                    }
                    Err(err) => {
                        warn!(error = %err, "result not published; task requeued");
                        let _ = delivery.nack(true).await;
                    }
                },
                Err(WorkerError::BadTask(why)) => {
                    warn!(why, "bad task dead-lettered");
                    let _ = delivery.nack(false).await;
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

    /// Runs the attempt unless its checkpoint says it already finished.
    async fn execute(
        &self,
        agent: &Arc<dyn Agent>,
        task: &TaskMessage,
        cancel: CancellationToken,
    ) -> Result<ResultMessage, WorkerError> {
        let mission_id = uuid::Uuid::parse_str(&task.mission_id).map_err(|_| {
            WorkerError::BadTask(format!("mission id {:?} is not a uuid", task.mission_id))
        })?;
        let new_attempt = NewAttempt {
            key: task.idempotency_key.clone(),
            mission_id,
            step_id: task.step_id.clone(),
            attempt: task.attempt as i32,
            agent: agent.name().to_owned(),
            worker: Some(self.config.worker_id.clone()),
        };
        let checkpoint = with_retries(|| self.store.begin_attempt(new_attempt.clone())).await?;
        if checkpoint.status != "running" {
            // Finished before (a redelivery): answer from the checkpoint, run nothing.
            return Ok(self.result_from(task, &checkpoint));
        }

        let outcome = if !agent.actions().contains(&task.action.as_str()) {
            Err(StepError::permanent(format!(
                "agent {:?} has no action {:?} (actions: {})",
                agent.name(),
                task.action,
                agent.actions().join(", ")
            )))
        } else {
            let ctx = TaskContext {
                mission_id: task.mission_id.clone(),
                step_id: task.step_id.clone(),
                attempt: task.attempt,
                action: task.action.clone(),
                idempotency_key: task.idempotency_key.clone(),
                cancel: cancel.clone(),
            };
            let agent = agent.clone();
            let input = task.input.clone();
            // A panicking agent fails its attempt (retryably) instead of the worker.
            match tokio::spawn(async move { agent.run(&ctx, input).await }).await {
                Ok(result) => result,
                Err(join) => Err(StepError::retryable(format!("agent panicked: {join}"))),
            }
        };
        if cancel.is_cancelled() && outcome.is_err() {
            // Interrupted by shutdown: leave the checkpoint open so the redelivered task
            // runs again elsewhere.
            return Err(WorkerError::Interrupted);
        }
        let record = match &outcome {
            Ok(output) => AttemptOutcome {
                succeeded: true,
                output: Some(output.clone()),
                error: None,
                retryable: None,
            },
            Err(err) => AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some(err.message.clone()),
                retryable: Some(err.retryable),
            },
        };
        let finished = with_retries(|| {
            self.store
                .finish_attempt(&task.idempotency_key, record.clone())
        })
        .await?;
        Ok(self.result_from(task, &finished))
    }

    fn result_from(&self, task: &TaskMessage, checkpoint: &attempts::Model) -> ResultMessage {
        let outcome = if checkpoint.status == "succeeded" {
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
        let headers = [
            (HEADER_MISSION, result.mission_id.clone()),
            (HEADER_STEP, result.step_id.clone()),
            (HEADER_ATTEMPT, result.attempt.to_string()),
            (HEADER_KIND, "result".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let message = Message {
            id: result.idempotency_key.clone(),
            headers,
            body: serde_json::to_vec(&result).unwrap_or_default(),
        };
        self.broker
            .publish(vec![(Destination::Results, message)])
            .await?;
        Ok(())
    }
}

/// Runs a checkpoint write, trying again in-process on transient database errors (a busy
/// SQLite file, a dropped connection) rather than handing the task back to the broker,
/// whose delivery limit would eventually dead-letter it.
async fn with_retries<T, F, Fut>(mut op: F) -> Result<T, rex_store::StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, rex_store::StoreError>>,
{
    let mut delay = Duration::from_millis(20);
    for _ in 0..6 {
        match op().await {
            Err(err) if err.is_retryable() => {
                warn!(error = %err, "checkpoint write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
    op().await
}
