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
//!
//! The same heartbeat stops steps whose mission has ended (cancelled, failed): every
//! `cancel_poll` it asks, in one query, which of this process's running attempts belong
//! to ended missions and cancels exactly those attempts' tokens. Such a step's outcome is
//! recorded as final (never retried: the mission is over) and its result published for
//! the orchestrator to ignore.

use std::collections::HashMap;
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
    /// How often running steps are checked for a mission that has ended, so that
    /// cancelling a mission reaches its running steps within this (default 2 s; one
    /// batched query per tick for all running attempts; zero turns the check off).
    pub cancel_poll: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            prefetch: 32,
            shutdown_grace: Duration::from_secs(30),
            worker_id: default_worker_id(),
            lease: Duration::from_secs(30),
            cancel_poll: Duration::from_secs(2),
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
    /// The attempts running now, by key: the heartbeat renews their leases and cancels
    /// those whose mission ended.
    in_flight: Arc<Mutex<HashMap<String, Flight>>>,
}

/// One attempt running in this process.
#[derive(Debug)]
struct Flight {
    mission_id: uuid::Uuid,
    agent: &'static str,
    /// The agent's `TaskContext::cancel`.
    token: CancellationToken,
    /// Set (and the token cancelled) when the heartbeat found its mission ended.
    mission_ended: bool,
}

/// Marks the flights named in `ended` and cancels their tokens; answers the ones newly
/// cancelled, as `(key, agent)`. Keys that finished meanwhile, or were already
/// cancelled, are left alone.
fn cancel_ended(
    in_flight: &mut HashMap<String, Flight>,
    ended: &[String],
) -> Vec<(String, &'static str)> {
    let mut cancelled = Vec::new();
    for key in ended {
        if let Some(flight) = in_flight.get_mut(key)
            && !flight.mission_ended
        {
            flight.mission_ended = true;
            flight.token.cancel();
            cancelled.push((key.clone(), flight.agent));
        }
    }
    cancelled
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

    /// Renews the leases of the running attempts every third of the lease, and every
    /// `cancel_poll` cancels the attempts whose mission has ended.
    async fn heartbeat(
        self,
        in_flight: Arc<Mutex<HashMap<String, Flight>>>,
        stop: CancellationToken,
    ) {
        let every = (self.config.lease / 3).max(Duration::from_millis(100));
        let start = tokio::time::Instant::now();
        let mut renew = tokio::time::interval_at(start + every, every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Zero turns the check off: an interval that never ticks in practice.
        let poll_every = if self.config.cancel_poll.is_zero() {
            Duration::from_secs(86_400 * 365)
        } else {
            self.config.cancel_poll.max(Duration::from_millis(50))
        };
        let mut poll = tokio::time::interval_at(start + poll_every, poll_every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = renew.tick() => self.renew_leases(&in_flight).await,
                _ = poll.tick() => self.cancel_ended_missions(&in_flight).await,
            }
        }
    }

    async fn renew_leases(&self, in_flight: &Mutex<HashMap<String, Flight>>) {
        let keys: Vec<String> = in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        if keys.is_empty() {
            return;
        }
        let renewing = self
            .store
            .extend_leases(&self.config.worker_id, &keys, self.config.lease);
        match renewing.await {
            Ok(n) => debug!(renewed = n, running = keys.len(), "leases renewed"),
            Err(err) => warn!(error = %err, "lease renewal failed"),
        }
    }

    /// One batched query for every running attempt; cancels those of ended missions.
    async fn cancel_ended_missions(&self, in_flight: &Mutex<HashMap<String, Flight>>) {
        let running: Vec<(String, uuid::Uuid)> = in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| !f.mission_ended)
            .map(|(k, f)| (k.clone(), f.mission_id))
            .collect();
        if running.is_empty() {
            return;
        }
        let ended = match self.store.attempts_of_ended_missions(&running).await {
            Ok(ended) => ended,
            Err(err) => {
                warn!(error = %err, "checking running steps for ended missions failed");
                return;
            }
        };
        if ended.is_empty() {
            return;
        }
        let cancelled = cancel_ended(
            &mut in_flight.lock().unwrap_or_else(|e| e.into_inner()),
            &ended,
        );
        for (key, agent) in cancelled {
            metrics().worker_step_cancelled(agent);
            info!(attempt = %key, agent, "mission ended; cancelling its running step");
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
            .insert(
                key.clone(),
                Flight {
                    mission_id,
                    agent: agent.name(),
                    token: cancel.clone(),
                    mission_ended: false,
                },
            );
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
        let mission_ended = running
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key)
            .is_some_and(|f| f.mission_ended);
        if mission_ended {
            // A span event on the step: its trace shows why it stopped.
            info!(parent: &step_span, ?took, ok = outcome.is_ok(), "step cancelled: its mission ended");
        }
        match &outcome {
            Ok(_) => metrics.step_succeeded(agent.name(), &task.action, took),
            // Counted as cancelled (rex_worker_steps_cancelled_total), not as a failure.
            Err(_) if mission_ended => {}
            Err(err) if err.defer_until.is_some() => {
                metrics.step_deferred(agent.name(), &task.action);
            }
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

        if cancel.is_cancelled() && outcome.is_err() && !mission_ended {
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
                deferred: false,
            },
            // The mission is over: nothing retries this step, whatever the agent said.
            Err(err) if mission_ended => AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some(format!("cancelled: the mission ended ({})", err.message)),
                retryable: Some(false),
                deferred: false,
            },
            Err(StepError {
                message,
                defer_until: Some(until),
                ..
            }) => AttemptOutcome::deferred(until, &message),
            Err(err) => AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some(err.message),
                retryable: Some(err.retryable),
                deferred: false,
            },
        };
        let row = running
            .checkpointer
            .record((attempt, started_at, record))
            .await?;
        Ok(Answer::Result(self.result_from(task, &row)))
    }

    fn result_from(&self, task: &TaskMessage, checkpoint: &attempts::Model) -> ResultMessage {
        let deferral = (checkpoint.status == attempts::status::DEFERRED)
            .then_some(checkpoint.output.as_ref())
            .flatten()
            .and_then(|o| o.get("until"))
            .and_then(|u| serde_json::from_value::<chrono::DateTime<Utc>>(u.clone()).ok());
        let outcome = if checkpoint.status == attempts::status::SUCCEEDED {
            Outcome::Succeeded {
                output: checkpoint.output.clone().unwrap_or(serde_json::Value::Null),
            }
        } else if let Some(until) = deferral {
            Outcome::Deferred {
                until,
                reason: checkpoint.error.clone().unwrap_or_default(),
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
        tenant: task.tenant.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(mission_id: uuid::Uuid) -> Flight {
        Flight {
            mission_id,
            agent: "sleep",
            token: CancellationToken::new(),
            mission_ended: false,
        }
    }

    #[test]
    fn only_the_attempts_of_ended_missions_are_cancelled_and_each_once() {
        let (ended, live) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut in_flight = HashMap::from([
            ("a".to_owned(), flight(ended)),
            ("b".to_owned(), flight(live)),
        ]);
        let keys = ["a".to_owned(), "gone".to_owned()];

        let cancelled = cancel_ended(&mut in_flight, &keys);
        assert_eq!(cancelled, vec![("a".to_owned(), "sleep")]);
        assert!(in_flight["a"].token.is_cancelled() && in_flight["a"].mission_ended);
        assert!(!in_flight["b"].token.is_cancelled() && !in_flight["b"].mission_ended);

        // The next tick may name it again (the step has not returned yet): no recount.
        assert!(cancel_ended(&mut in_flight, &keys).is_empty());
    }

    #[test]
    fn cancelling_for_a_mission_leaves_the_shutdown_token_alone() {
        let hard_stop = CancellationToken::new();
        let mut in_flight = HashMap::from([(
            "a".to_owned(),
            Flight {
                token: hard_stop.child_token(),
                ..flight(uuid::Uuid::new_v4())
            },
        )]);
        cancel_ended(&mut in_flight, &["a".to_owned()]);
        assert!(in_flight["a"].token.is_cancelled());
        assert!(!hard_stop.is_cancelled());
    }
}
