//! Multi-day primitives end to end: durable delays across a restart, signals (buffered,
//! deduplicated, mission-wide reactions), correlation-key events, retry from a step.

mod support;

use std::time::Duration;

use rex_store::entity::timers;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use support::{Backend, Harness};

async fn timers_of(h: &Harness, id: uuid::Uuid) -> u64 {
    timers::Entity::find()
        .filter(timers::Column::MissionId.eq(id))
        .count(h.db.conn())
        .await
        .unwrap()
}

async fn wait_step_status(h: &Harness, id: uuid::Uuid, step: &str, status: &str) {
    for _ in 0..500 {
        if h.steps(id)
            .await
            .get(step)
            .is_some_and(|s| s.status == status)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "step {step} never became {status}: {:#?}",
        h.steps(id).await
    );
}

async fn a_delay_survives_a_restart_of_everything_and_fires_on_time(backend: Backend) {
    let mut h = Harness::new(backend).await;
    let orchestrator = h.spawn_orchestrator().await;
    let worker = h.spawn_worker(2).await;
    h.push(
        r#"
name: delayed
version: 1
steps:
  - {id: first, agent: noop, action: noop}
  - {id: later, agent: noop, action: noop, depends_on: [first], delay: 3s}
"#,
    )
    .await;
    let id = h.start("delayed", json!({})).await;
    wait_step_status(&h, id, "later", "delayed").await;
    let first_done = h.steps(id).await["first"].finished_at.unwrap();
    // Everything goes down during the wait...
    orchestrator.cancel();
    worker.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        timers_of(&h, id).await,
        1,
        "the delay is a row, not a sleeping task"
    );
    // ...and comes back.
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "succeeded");
    let later = h.steps(id).await["later"].dispatched_at.unwrap();
    let waited = later - first_done;
    assert!(
        waited >= chrono::Duration::seconds(3) && waited < chrono::Duration::milliseconds(5500),
        "dispatched {waited} after its dependency, expected 3s"
    );
    assert_eq!(timers_of(&h, id).await, 0);
    h.finish().await;
}

const SEQUENCE: &str = r#"
name: sequence
version: 1
inputs:
  lead: {type: string, required: true}
correlation_keys: ["lead:${inputs.lead}"]
on_signal:
  lead.unsubscribed: cancel
steps:
  - {id: first, agent: sleep, action: sleep, input: {ms: 400}}
  - {id: reply, wait_for: {signal: lead.replied, timeout: 1m}, depends_on: [first]}
  - {id: follow_up, agent: echo, action: echo, depends_on: [reply], delay: 1m,
     input: {said: "${steps.reply.output.payload.text}"}}
"#;

async fn a_signal_sent_early_is_used_when_the_wait_is_reached_and_counted_once(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(&SEQUENCE.replace("delay: 1m,", "")).await;
    let id = h.start("sequence", json!({"lead": "42"})).await;
    // Sent while `first` still runs, twice with the same id.
    for _ in 0..2 {
        h.engine
            .signal(
                id,
                "lead.replied",
                json!({"text": "sounds good"}),
                "reply-1",
            )
            .await
            .unwrap();
    }
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "succeeded");
    let steps = h.steps(id).await;
    assert_eq!(
        steps["follow_up"].output,
        Some(json!({"said": "sounds good"}))
    );
    assert_eq!(
        steps["reply"].output.as_ref().unwrap()["timed_out"],
        json!(false)
    );
    let signals = rex_store::load_signals(h.db.conn(), &[id]).await.unwrap();
    assert_eq!(signals.len(), 1, "the duplicate was not stored");
    assert_eq!(signals[0].consumed_by.as_deref(), Some("reply"));
    h.finish().await;
}

async fn an_event_on_a_correlation_key_cancels_during_a_timer_wait_leaving_no_timer(
    backend: Backend,
) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(SEQUENCE).await;
    let id = h.start("sequence", json!({"lead": "42"})).await;
    let other = h.start("sequence", json!({"lead": "7"})).await;
    h.engine
        .signal(id, "lead.replied", json!({"text": "later"}), "r1")
        .await
        .unwrap();
    wait_step_status(&h, id, "follow_up", "delayed").await;
    assert_eq!(timers_of(&h, id).await, 1);

    let reached = h
        .engine
        .publish_event("lead:42", "lead.unsubscribed", json!({}), "evt-1")
        .await
        .unwrap();
    assert_eq!(
        reached,
        [id],
        "only the mission of lead 42 listens on lead:42"
    );
    let m = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(m.status, "cancelled");
    assert_eq!(
        m.error.as_deref(),
        Some("cancelled by signal \"lead.unsubscribed\"")
    );
    assert_eq!(timers_of(&h, id).await, 0, "no timer left behind");
    assert_eq!(
        h.steps(id).await["follow_up"].attempt,
        0,
        "never dispatched"
    );
    assert_eq!(
        h.db.get_mission(other).await.unwrap().unwrap().status,
        "running"
    );
    h.engine.cancel_mission(other, "test over").await.unwrap();
    h.finish().await;
}

/// Two tenants' CRMs may both have a lead 42: an event about acme's lead reaches acme's
/// missions and the operator's (which serve every tenant), never globex's.
async fn a_tenants_event_never_reaches_another_tenants_mission_on_the_same_key(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(SEQUENCE).await;
    let start = |tenant: &'static str| {
        let engine = h.engine.clone();
        async move {
            let start = rex_engine::StartMission {
                definition: "sequence".into(),
                input: json!({"lead": "42"}),
                ..rex_engine::StartMission::default()
            };
            engine.start_mission_for(tenant, start).await.unwrap().id
        }
    };
    let acme = start("acme").await;
    let globex = start("globex").await;
    let operator = h.start("sequence", json!({"lead": "42"})).await;

    let mut reached = h
        .engine
        .publish_tenant_event("acme", "lead:42", "lead.unsubscribed", json!({}), "evt-1")
        .await
        .unwrap();
    reached.sort();
    let mut want = vec![acme, operator];
    want.sort();
    assert_eq!(reached, want, "acme's and the operator's, not globex's");
    assert_eq!(
        h.wait(acme, Duration::from_secs(10)).await.status,
        "cancelled"
    );
    assert_eq!(
        h.wait(operator, Duration::from_secs(10)).await.status,
        "cancelled"
    );
    assert_eq!(
        h.db.get_mission(globex).await.unwrap().unwrap().status,
        "running"
    );
    assert!(
        rex_store::load_signals(h.db.conn(), &[globex])
            .await
            .unwrap()
            .is_empty(),
        "globex's mission got nothing"
    );
    // the operator's publish reaches every tenant's
    let reached = h
        .engine
        .publish_event("lead:42", "lead.unsubscribed", json!({}), "evt-2")
        .await
        .unwrap();
    assert_eq!(reached, [globex]);
    assert_eq!(
        h.wait(globex, Duration::from_secs(10)).await.status,
        "cancelled"
    );
    h.finish().await;
}

async fn a_signal_during_a_running_step_cancels_the_rest_after_it(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(SEQUENCE).await;
    let id = h.start("sequence", json!({"lead": "9"})).await;
    // Running in a worker, not just dispatched: the worker has claimed the attempt.
    for _ in 0..250 {
        if !h.attempts(id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        h.attempts(id).await.len(),
        1,
        "the worker never took the step"
    );
    // The claim's own check of the mission follows its insert: let it pass, so the
    // agent is really running (it sleeps 400 ms) when the signal comes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    h.engine
        .signal(id, "lead.unsubscribed", json!({}), "u1")
        .await
        .unwrap();
    let m = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(m.status, "cancelled");
    // The running step's own work finished (the worker ran it to the end, once)...
    tokio::time::sleep(Duration::from_millis(800)).await;
    let attempts = h.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].step_id.as_str(), attempts[0].executions),
        ("first", 1)
    );
    // ...and nothing after it ran.
    let steps = h.steps(id).await;
    assert_eq!(steps["reply"].status, "cancelled");
    assert_eq!(steps["follow_up"].attempt, 0);
    h.finish().await;
}

async fn retry_from_a_failed_step_reuses_the_earlier_outputs(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: flaky-tail
version: 1
steps:
  - {id: expensive, agent: echo, action: echo, input: {v: 1}}
  - {id: tail, agent: fail, action: fail, depends_on: [expensive],
     input: {pattern: "fail,ok"}, retry: {max_attempts: 1}}
"#,
    )
    .await;
    let id = h.start("flaky-tail", json!({})).await;
    assert_eq!(h.wait(id, Duration::from_secs(10)).await.status, "failed");
    h.engine.retry_mission(id, None).await.unwrap();
    let m = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(m.status, "succeeded", "{:?}", m.error);
    let attempts = h.attempts(id).await;
    let runs = |step: &str| attempts.iter().filter(|a| a.step_id == step).count();
    assert_eq!(runs("expensive"), 1, "the earlier step was not run again");
    assert_eq!(runs("tail"), 2);
    // Retrying a finished mission is refused with a reason.
    let err = h.engine.retry_mission(id, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("only a failed or cancelled mission"),
        "{err}"
    );
    h.finish().await;
}

both_backends!(
    a_delay_survives_a_restart_of_everything_and_fires_on_time,
    a_signal_sent_early_is_used_when_the_wait_is_reached_and_counted_once,
    an_event_on_a_correlation_key_cancels_during_a_timer_wait_leaving_no_timer,
    a_tenants_event_never_reaches_another_tenants_mission_on_the_same_key,
    a_signal_during_a_running_step_cancels_the_rest_after_it,
    retry_from_a_failed_step_reuses_the_earlier_outputs,
);
