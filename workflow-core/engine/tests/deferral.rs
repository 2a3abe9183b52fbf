//! A deferral is not a failure: an agent that answers `StepError::defer(until, …)` gets
//! its step run again at `until`, as many times as it defers, with its retry budget
//! whole; the attempts say `deferred`, and nothing after the step runs early.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rex_workers::{Agent, Registry, StepError, TaskContext, Worker, WorkerConfig};
use serde_json::{Value, json};
use support::{Backend, Harness};
use tokio_util::sync::CancellationToken;

/// Defers its first `times` runs by `ms` each, then succeeds with the time it ran.
struct NotYet {
    times: u32,
    ms: i64,
    runs: AtomicU32,
}

#[async_trait]
impl Agent for NotYet {
    fn name(&self) -> &'static str {
        "not_yet"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["try"]
    }
    async fn run(&self, _ctx: &TaskContext, _input: Value) -> Result<Value, StepError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let now = Utc::now();
        if run <= self.times {
            return Err(StepError::defer(
                now + chrono::Duration::milliseconds(self.ms),
                "mailbox_daily_cap",
            ));
        }
        Ok(json!({"ran_at": now, "run": run}))
    }
}

// max_attempts 2: three deferrals in a row would exhaust it if they counted as tries
const DEFERRING: &str = r#"
name: deferring
version: 1
steps:
  - {id: send, agent: not_yet, action: try, input: {}, retry: {max_attempts: 2, initial_delay: 10ms}}
  - {id: after, agent: echo, action: echo, depends_on: [send], input: {x: 1}}
"#;

async fn a_deferred_step_runs_again_at_its_time_without_spending_retries(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await; // echo
    let mut registry = Registry::new();
    let agent = Arc::new(NotYet {
        times: 3,
        ms: 400,
        runs: AtomicU32::new(0),
    });
    registry.register(agent.clone());
    h.engine.broker().declare(&registry.names()).await.unwrap();
    let worker = Worker::new(
        h.store().await,
        h.broker().await,
        WorkerConfig {
            concurrency: 2,
            prefetch: 4,
            shutdown_grace: Duration::from_secs(5),
            worker_id: "deferral-test-worker".to_owned(),
            lease: Duration::from_secs(5),
            ..WorkerConfig::default()
        },
    );
    let agents = registry.select(&registry.names()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { worker.run(agents, stop).await }
    });

    h.push(DEFERRING).await;
    let started = Utc::now();
    let id = h.start("deferring", json!({})).await;
    let m = h.wait(id, Duration::from_secs(30)).await;
    assert_eq!(m.status, "succeeded", "{:?}", m.error);
    assert_eq!(
        agent.runs.load(Ordering::SeqCst),
        4,
        "three deferrals, then the run"
    );

    let mut attempts = h.attempts(id).await;
    attempts.retain(|a| a.step_id == "send");
    attempts.sort_by_key(|a| a.attempt);
    let statuses: Vec<&str> = attempts.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(statuses, ["deferred", "deferred", "deferred", "succeeded"]);
    for a in &attempts[..3] {
        let out = a.output.as_ref().expect("a deferral keeps its time");
        assert!(out["until"].is_string(), "{out}");
        assert_eq!(out["reason"], "mailbox_daily_cap");
    }
    // each run waited out the deferral before it: 3 × 400 ms at least
    let steps = h.steps(id).await;
    let ran_at: chrono::DateTime<Utc> =
        serde_json::from_value(steps["send"].output.as_ref().unwrap()["ran_at"].clone()).unwrap();
    assert!(
        ran_at - started >= chrono::Duration::milliseconds(1_200),
        "ran {} ms after the start",
        (ran_at - started).num_milliseconds()
    );
    assert_eq!(steps["after"].status, "succeeded");

    stop.cancel();
    let _ = task.await;
    support::delete_queues_of(&h.prefix, &registry.names()).await;
    h.finish().await;
}

both_backends!(a_deferred_step_runs_again_at_its_time_without_spending_retries);
