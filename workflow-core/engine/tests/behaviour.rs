//! The engine's behaviour, end to end through the store and the broker, on PostgreSQL +
//! RabbitMQ and on SQLite + the in-process broker.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rex_broker::{Broker, BrokerError, Consumer, Destination, Message, QueueStats};
use rex_core::protocol::{HEADER_MISSION, Outcome, ResultMessage, TaskMessage};
use rex_engine::{Orchestrator, OrchestratorConfig};
use serde_json::json;
use support::{Backend, Harness};
use tokio_util::sync::CancellationToken;

const DIAMOND: &str = r#"
name: diamond
version: 1
steps:
  - {id: a, agent: echo, action: echo, input: {n: 1}}
  - {id: b, agent: sleep, action: sleep, input: {ms: 300}, depends_on: [a]}
  - {id: c, agent: sleep, action: sleep, input: {ms: 300}, depends_on: [a]}
  - {id: d, agent: echo, action: echo, input: {a: "${steps.a.output.n}"}, depends_on: [b, c]}
"#;

async fn diamond_completes_with_parallel_branches(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(4).await;
    h.push(DIAMOND).await;
    let id = h.start("diamond", json!({})).await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "succeeded", "{m:?}");
    assert_eq!(m.output, Some(json!({"d": {"a": 1}})));

    // b and c overlapped: each started before the other finished (worker-side times).
    let attempts = h.attempts(id).await;
    let span = |step: &str| {
        let a = attempts.iter().find(|a| a.step_id == step).unwrap();
        (a.started_at, a.finished_at.unwrap())
    };
    let (b0, b1) = span("b");
    let (c0, c1) = span("c");
    assert!(
        b0 < c1 && c0 < b1,
        "b {b0}..{b1} and c {c0}..{c1} did not overlap"
    );
    // d ran after both.
    let (d0, _) = span("d");
    assert!(d0 >= b1 && d0 >= c1);
    h.finish().await;
}

async fn retryable_failures_back_off_then_succeed(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: flaky
version: 1
steps:
  - id: flaky
    agent: fail
    action: fail
    input: {pattern: "retry,retry,ok"}
    retry: {max_attempts: 3, initial_delay: 200ms, multiplier: 2, jitter: 0}
"#,
    )
    .await;
    let id = h.start("flaky", json!({})).await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "succeeded");
    assert_eq!(h.steps(id).await["flaky"].attempt, 3);

    let mut attempts = h.attempts(id).await;
    attempts.sort_by_key(|a| a.attempt);
    assert_eq!(attempts.len(), 3);
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.status.as_str())
            .collect::<Vec<_>>(),
        ["failed", "failed", "succeeded"]
    );
    // Back-off honoured: 200 ms before attempt 2, 400 ms before attempt 3.
    let gap = |i: usize| attempts[i].started_at - attempts[i - 1].finished_at.unwrap();
    assert!(
        gap(1).num_milliseconds() >= 200,
        "gap before attempt 2: {}",
        gap(1)
    );
    assert!(
        gap(2).num_milliseconds() >= 400,
        "gap before attempt 3: {}",
        gap(2)
    );
    h.finish().await;
}

async fn permanent_failure_fails_the_mission_and_dispatches_no_dependent(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: broken
version: 1
steps:
  - {id: bad, agent: fail, action: fail, input: {pattern: fail}, retry: {max_attempts: 5}}
  - {id: after, agent: noop, action: noop, depends_on: [bad]}
"#,
    )
    .await;
    let id = h.start("broken", json!({})).await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "failed");
    let error = m.error.unwrap();
    assert!(
        error.contains("step \"bad\" failed permanently on attempt 1"),
        "{error}"
    );
    let steps = h.steps(id).await;
    assert_eq!(steps["bad"].attempt, 1);
    assert_eq!(steps["after"].status, "cancelled");
    assert_eq!(
        steps["after"].attempt, 0,
        "the dependent step was dispatched"
    );
    assert!(h.attempts(id).await.iter().all(|a| a.step_id == "bad"));
    h.finish().await;
}

async fn duplicate_tasks_and_results_change_nothing(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: two
version: 1
steps:
  - {id: first, agent: echo, action: echo, input: {v: 1}}
  - {id: second, agent: echo, action: echo, input: {v: 2}, depends_on: [first]}
"#,
    )
    .await;
    let id = h.start("two", json!({})).await;
    h.wait(id, Duration::from_secs(20)).await;
    let before_steps = h.steps(id).await;
    let before_mission = h.db.get_mission(id).await.unwrap().unwrap();

    // Re-deliver the first step's task: the worker answers from its checkpoint.
    let broker = h.broker().await;
    let key = format!("{id}:first:1");
    let task = TaskMessage {
        mission_id: id.to_string(),
        step_id: "first".into(),
        attempt: 1,
        agent: "echo".into(),
        action: "echo".into(),
        input: json!({"v": 1}),
        idempotency_key: key.clone(),
        dispatched_at: chrono::Utc::now(),
        tenant: rex_core::protocol::DEFAULT_TENANT.into(),
    };
    let result = ResultMessage {
        mission_id: id.to_string(),
        step_id: "second".into(),
        attempt: 1,
        idempotency_key: format!("{id}:second:1"),
        outcome: Outcome::Succeeded {
            output: json!({"forged": true}),
        },
        worker: "test".into(),
        finished_at: chrono::Utc::now(),
    };
    for _ in 0..3 {
        broker
            .publish(vec![
                (
                    Destination::Agent("echo".into()),
                    Message::new(key.clone(), serde_json::to_vec(&task).unwrap())
                        .with_header(HEADER_MISSION, id.to_string()),
                ),
                (
                    Destination::Results,
                    Message::new(
                        result.idempotency_key.clone(),
                        serde_json::to_vec(&result).unwrap(),
                    ),
                ),
            ])
            .await
            .unwrap();
    }
    // Let everything drain.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(h.steps(id).await, before_steps);
    assert_eq!(h.db.get_mission(id).await.unwrap().unwrap(), before_mission);
    for a in h.attempts(id).await {
        assert_eq!(
            a.executions, 1,
            "attempt {} ran {} times",
            a.idempotency_key, a.executions
        );
    }
    h.finish().await;
}

/// A broker whose publishes all fail, as if the process died right after its commit.
struct CrashesBeforePublish(Arc<dyn Broker>);

#[async_trait]
impl Broker for CrashesBeforePublish {
    async fn declare(&self, agents: &[String]) -> Result<(), BrokerError> {
        self.0.declare(agents).await
    }
    async fn publish(&self, _batch: Vec<(Destination, Message)>) -> Result<(), BrokerError> {
        Err(BrokerError::Unavailable {
            op: "publish",
            cause: "process killed".into(),
        })
    }
    async fn consume(
        &self,
        source: Destination,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BrokerError> {
        self.0.consume(source, prefetch).await
    }
    async fn queue_stats(&self, source: &Destination) -> Result<QueueStats, BrokerError> {
        self.0.queue_stats(source).await
    }
    async fn dead_letter_count(&self, agent: &str) -> Result<u64, BrokerError> {
        self.0.dead_letter_count(agent).await
    }
}

async fn relay_publishes_what_a_crash_between_commit_and_publish_left(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.push(
        r#"
name: chain
version: 1
steps:
  - {id: a, agent: noop, action: noop}
  - {id: b, agent: noop, action: noop, depends_on: [a]}
  - {id: c, agent: noop, action: noop, depends_on: [b]}
"#,
    )
    .await;
    // The mission is committed with its first task in the outbox, never published.
    let crashed = support::engine(
        h.store().await,
        Arc::new(CrashesBeforePublish(h.broker().await)),
    );
    let id = crashed
        .start_mission(rex_engine::StartMission {
            definition: "chain".into(),
            input: json!({}),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(h.db.count_outbox().await.unwrap(), 1);
    h.spawn_worker(2).await;

    // Two orchestrators share the results queue: one "crashes" after every commit (its
    // tasks stay in the outbox), the other is healthy. Every task the crashing one
    // committed, and the first task above, reach the workers only through the healthy
    // one's relay.
    let stop = CancellationToken::new();
    let crashing = Orchestrator::new(
        crashed.clone(),
        OrchestratorConfig {
            relay_grace: Duration::from_secs(3600),
            ..OrchestratorConfig::default()
        },
    );
    let healthy = Orchestrator::new(
        support::engine(h.store().await, h.broker().await),
        OrchestratorConfig {
            relay_grace: Duration::from_millis(200),
            relay_interval: Duration::from_millis(100),
            ..OrchestratorConfig::default()
        },
    );
    let handle = tokio::spawn(crashing.run(stop.clone()));
    let healthy_handle = tokio::spawn(healthy.run(stop.clone()));
    let m = h.wait(id.id, Duration::from_secs(30)).await;
    assert_eq!(m.status, "succeeded");
    assert_eq!(h.db.count_outbox().await.unwrap(), 0);
    for a in h.attempts(id.id).await {
        assert_eq!(a.executions, 1);
    }
    stop.cancel();
    handle.await.unwrap().unwrap();
    healthy_handle.await.unwrap().unwrap();
    h.finish().await;
}

async fn cancel_stops_a_running_mission(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: slow
version: 1
steps:
  - {id: wait, agent: sleep, action: sleep, input: {ms: 500}}
  - {id: never, agent: noop, action: noop, depends_on: [wait]}
"#,
    )
    .await;
    let id = h.start("slow", json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.engine.cancel_mission(id, "lead replied").await.unwrap());
    let m = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(m.status, "cancelled");
    assert_eq!(m.error.as_deref(), Some("lead replied"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let steps = h.steps(id).await;
    assert_eq!(steps["never"].attempt, 0);
    assert!(!h.engine.cancel_mission(id, "again").await.unwrap());
    h.finish().await;
}

async fn step_timeout_retries_the_attempt(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(4).await;
    h.push(
        r#"
name: timeout
version: 1
steps:
  - id: slow
    agent: sleep
    action: sleep
    input: {ms: 1500}
    timeout: 200ms
    retry: {max_attempts: 2, initial_delay: 50ms, jitter: 0}
"#,
    )
    .await;
    let id = h.start("timeout", json!({})).await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "failed");
    assert!(m.error.unwrap().contains("timed out"));
    assert_eq!(h.steps(id).await["slow"].attempt, 2);
    h.finish().await;
}

async fn a_queued_task_of_a_cancelled_mission_never_runs(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    // One slot: the second mission's task waits in the queue behind the first.
    h.spawn_worker(1).await;
    h.push(
        r#"
name: email
version: 1
steps:
  - {id: send, agent: sleep, action: sleep, input: {ms: 600}}
"#,
    )
    .await;
    let first = h.start("email", json!({})).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = h.start("email", json!({})).await;
    assert!(
        h.engine
            .cancel_mission(second, "lead replied")
            .await
            .unwrap()
    );
    assert_eq!(
        h.wait(first, Duration::from_secs(10)).await.status,
        "succeeded"
    );
    // Give the worker time to take the queued task.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let attempts = h.attempts(second).await;
    assert_eq!(attempts.len(), 1, "the task was delivered and claimed");
    assert_eq!(attempts[0].status, "skipped");
    assert_eq!(attempts[0].executions, 0, "the queued email was never sent");
    assert_eq!(
        h.db.get_mission(second).await.unwrap().unwrap().status,
        "cancelled"
    );
    h.finish().await;
}

/// A task carries its mission's tenant, which the agents act for.
async fn a_task_names_its_missions_tenant(backend: Backend) {
    let h = Harness::new(backend).await;
    h.push(DIAMOND).await;
    let start = || rex_engine::StartMission {
        definition: "diamond".into(),
        input: json!({}),
        ..rex_engine::StartMission::default()
    };
    let acme = h
        .engine
        .start_mission_for("acme", start())
        .await
        .unwrap()
        .id;
    let operator = h.engine.start_mission(start()).await.unwrap().id;
    // the first step's tasks, as a worker receives them
    let mut queue = h
        .broker()
        .await
        .consume(Destination::Agent("echo".into()), 2)
        .await
        .unwrap();
    let mut tenants = std::collections::BTreeMap::new();
    while tenants.len() < 2 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), queue.next())
            .await
            .expect("both tasks published")
            .unwrap();
        let task: TaskMessage = serde_json::from_slice(&delivery.message.body).unwrap();
        assert_eq!(task.step_id, "a");
        tenants.insert(task.mission_id, task.tenant);
    }
    queue.close().await;
    assert_eq!(
        tenants,
        [
            (acme.to_string(), "acme".to_owned()),
            (operator.to_string(), "default".to_owned())
        ]
        .into()
    );
    // a task published before the field existed acts for the operator's tenant
    let mut old = serde_json::to_value(TaskMessage {
        mission_id: acme.to_string(),
        step_id: "a".into(),
        attempt: 1,
        agent: "echo".into(),
        action: "echo".into(),
        input: json!({}),
        idempotency_key: format!("{acme}:a:1"),
        dispatched_at: chrono::Utc::now(),
        tenant: "acme".into(),
    })
    .unwrap();
    old.as_object_mut().unwrap().remove("tenant");
    let old: TaskMessage = serde_json::from_value(old).unwrap();
    assert_eq!(old.tenant, rex_store::missions::DEFAULT_TENANT);
    h.finish().await;
}

both_backends!(
    a_task_names_its_missions_tenant,
    a_queued_task_of_a_cancelled_mission_never_runs,
    diamond_completes_with_parallel_branches,
    retryable_failures_back_off_then_succeed,
    permanent_failure_fails_the_mission_and_dispatches_no_dependent,
    duplicate_tasks_and_results_change_nothing,
    relay_publishes_what_a_crash_between_commit_and_publish_left,
    cancel_stops_a_running_mission,
    step_timeout_retries_the_attempt,
);
