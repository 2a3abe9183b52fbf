//! Cancelling a mission reaches the step a worker is running: its context's token
//! fires within the worker's `cancel_poll`, the agent returns, the attempt is recorded
//! as final (no retry) and nothing after it runs.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rex_workers::builtin::Sleep;
use rex_workers::{Agent, Registry, StepError, TaskContext, Worker, WorkerConfig};
use serde_json::{Value, json};
use support::{Backend, Harness};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the worker side saw of one run of the step.
#[derive(Debug)]
enum Seen {
    Started,
    Returned {
        at: Instant,
        token_fired: bool,
        outcome: Result<Value, StepError>,
    },
}

/// The built-in `sleep` agent, watched: reports when it starts and how it returned.
struct WatchedSleep(mpsc::UnboundedSender<Seen>);

#[async_trait]
impl Agent for WatchedSleep {
    fn name(&self) -> &'static str {
        Sleep.name()
    }
    fn actions(&self) -> &'static [&'static str] {
        Sleep.actions()
    }
    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let _ = self.0.send(Seen::Started);
        let outcome = Sleep.run(ctx, input).await;
        let _ = self.0.send(Seen::Returned {
            at: Instant::now(),
            token_fired: ctx.cancel.is_cancelled(),
            outcome: outcome.clone(),
        });
        outcome
    }
}

const LONG: &str = r#"
name: long-nap
version: 1
steps:
  - {id: nap, agent: sleep, action: sleep, input: {ms: 60000}}
  - {id: after, agent: echo, action: echo, depends_on: [nap], input: {x: 1}}
"#;

async fn cancelling_a_mission_stops_its_running_step_within_seconds(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut registry = Registry::builtin();
    registry.register(Arc::new(WatchedSleep(seen_tx)));
    let worker = Worker::new(
        h.store().await,
        h.broker().await,
        WorkerConfig {
            concurrency: 2,
            prefetch: 4,
            shutdown_grace: Duration::from_secs(5),
            worker_id: "cancel-test-worker".to_owned(),
            lease: Duration::from_secs(5),
            // The default check interval: what production gets.
            ..WorkerConfig::default()
        },
    );
    let agents = registry.select(&registry.names()).unwrap();
    let stop_worker = CancellationToken::new();
    let worker = tokio::spawn({
        let stop = stop_worker.clone();
        async move { worker.run(agents, stop).await }
    });

    h.push(LONG).await;
    let id = h.start("long-nap", json!({})).await;
    let started = tokio::time::timeout(Duration::from_secs(20), seen.recv()).await;
    assert!(
        matches!(started, Ok(Some(Seen::Started))),
        "the step never started: {started:?}"
    );
    // Let it sleep a little, so it is cancelled mid-run rather than at its start.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let cancelled_at = Instant::now();
    assert!(h.engine.cancel_mission(id, "test: stop it").await.unwrap());
    let returned = tokio::time::timeout(Duration::from_secs(15), seen.recv())
        .await
        .expect("the running step did not return within 15 s of the cancel")
        .expect("the agent reports its return");
    let Seen::Returned {
        at,
        token_fired,
        outcome,
    } = returned
    else {
        panic!("expected the step to return, saw {returned:?}");
    };
    assert!(token_fired, "the step's cancellation token did not fire");
    let took = at - cancelled_at;
    assert!(
        took < Duration::from_secs(5),
        "the step returned {took:?} after the cancel"
    );
    assert!(outcome.is_err(), "the sleep finished instead: {outcome:?}");

    let m = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(m.status, "cancelled");

    // The attempt is recorded as final: failed, not retryable, run once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let nap = loop {
        let attempts = h.attempts(id).await;
        if let Some(a) = attempts
            .iter()
            .find(|a| a.step_id == "nap" && a.status != "running")
        {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled attempt was never recorded: {attempts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(nap.status, "failed");
    assert_eq!(nap.retryable, Some(false));
    assert_eq!(nap.executions, 1);
    assert!(
        nap.error
            .as_deref()
            .is_some_and(|e| e.starts_with("cancelled: the mission ended")),
        "{:?}",
        nap.error
    );
    let metrics = rex_observability::metrics().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"rex_worker_steps_cancelled_total{agent="sleep"}"#)),
        "no cancelled-step metric in:\n{metrics}"
    );

    // Nothing ran after it, nor again: no retry, no later step.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = h.attempts(id).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    let steps = h.steps(id).await;
    assert_eq!(steps["after"].attempt, 0);
    assert_eq!(steps["nap"].attempt, 1);
    assert!(
        seen.try_recv().is_err(),
        "the agent ran again after the cancel"
    );
    assert_eq!(
        h.db.get_mission(id).await.unwrap().unwrap().status,
        "cancelled"
    );

    stop_worker.cancel();
    worker.await.unwrap().unwrap();
    h.finish().await;
}

both_backends!(cancelling_a_mission_stops_its_running_step_within_seconds);
