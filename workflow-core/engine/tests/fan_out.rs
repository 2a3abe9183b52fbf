//! Fan-out (`for_each`) and child missions end to end, on both backends: bounded
//! concurrency observed from the worker side, ordered joins, failure policies,
//! cancellation reaching the children, and a single child workflow.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rex_store::entity::{mission_parents, missions};
use rex_workers::{Agent, StepError, TaskContext, Worker, WorkerConfig};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use support::{Backend, Harness};
use uuid::Uuid;

/// Counts how many of its tasks run at once, from inside the worker.
#[derive(Default)]
struct Probe {
    running: AtomicUsize,
    max: AtomicUsize,
    runs: AtomicUsize,
}

struct ProbeAgent(Arc<Probe>);

#[async_trait]
impl Agent for ProbeAgent {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn actions(&self) -> &'static [&'static str] {
        &["run"]
    }
    async fn run(&self, _ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let now = self.0.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.max.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(30)).await;
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"i": input["i"], "doubled": input["n"].as_u64().unwrap_or(0) * 2}))
    }
}

async fn children_of(h: &Harness, parent: Uuid) -> Vec<(i32, missions::Model)> {
    let links = mission_parents::Entity::find()
        .filter(mission_parents::Column::ParentId.eq(parent))
        .all(h.db.conn())
        .await
        .unwrap();
    let mut out = Vec::new();
    for link in links {
        let child = h.db.get_mission(link.child_id).await.unwrap().unwrap();
        out.push((link.item_index, child));
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

async fn a_thousand_items_never_run_more_than_max_concurrency(backend: Backend) {
    let mut h = Harness::new(backend).await;
    let broker = h.broker().await;
    broker.declare(&["probe".to_owned()]).await.unwrap();
    h.spawn_orchestrator().await;
    h.spawn_worker(4).await; // the built-in agents (echo)
    let probe = Arc::new(Probe::default());
    let worker = Worker::new(
        h.store().await,
        h.broker().await,
        WorkerConfig {
            // Far more slots than the fan-out allows: only the engine can hold it to 50.
            concurrency: 128,
            prefetch: 256,
            worker_id: "probe-worker".to_owned(),
            ..WorkerConfig::default()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let agents: Vec<Arc<dyn Agent>> = vec![Arc::new(ProbeAgent(probe.clone()))];
    let worker_task = tokio::spawn({
        let stop = stop.clone();
        async move { worker.run(agents, stop).await }
    });
    h.push(
        r#"
name: fan
version: 1
inputs:
  items: {type: array, required: true}
steps:
  - {id: list, agent: echo, action: echo, input: {items: "${inputs.items}"}}
  - id: each
    depends_on: [list]
    for_each: ${steps.list.output.items}
    max_concurrency: 50
    agent: probe
    action: run
    input: {i: "${item_index}", n: "${item.n}"}
  - {id: after, agent: echo, action: echo, depends_on: [each], input: {count: "${steps.each.output.succeeded}"}}
"#,
    )
    .await;
    let items: Vec<Value> = (0..1000).map(|n| json!({"n": n})).collect();
    let id = h.start("fan", json!({"items": items})).await;
    let done = h.wait(id, Duration::from_secs(180)).await;
    assert_eq!(done.status, "succeeded", "{:?}", done.error);

    let max = probe.max.load(Ordering::SeqCst);
    assert!(max <= 50, "{max} items ran at once; max_concurrency is 50");
    assert!(
        max >= 25,
        "only {max} items ever ran at once: the fan-out is not concurrent"
    );
    assert_eq!(probe.runs.load(Ordering::SeqCst), 1000);

    let steps = h.steps(id).await;
    let output = steps["each"].output.clone().unwrap();
    assert_eq!(output["total"], 1000);
    assert_eq!(output["succeeded"], 1000);
    assert_eq!(output["failed"], 0);
    let results = output["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    for (i, r) in results.iter().enumerate() {
        // the item mission's output is keyed by its one step, like any mission's
        assert_eq!(r["each"], json!({"i": i, "doubled": i * 2}), "result {i}");
    }
    assert_eq!(
        steps["after"].output.clone().unwrap(),
        json!({"count": 1000})
    );
    // The parent's row holds counts, not the items: each is a mission of its own.
    let counts = steps["each"].fanout.clone().unwrap();
    assert_eq!(
        counts,
        json!({"total": 1000, "started": 1000, "succeeded": 1000, "failed": 0})
    );
    assert_eq!(children_of(&h, id).await.len(), 1000);

    stop.cancel();
    let _ = worker_task.await;
    if backend == Backend::Production {
        support::delete_queues_of(&h.prefix, &["probe".to_owned()]).await;
    }
    h.finish().await;
}

async fn continue_lists_failures_and_keeps_results_in_order(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(8).await;
    h.push(
        r#"
name: tolerant
version: 1
inputs:
  patterns: {type: array, required: true}
steps:
  - id: each
    for_each: ${inputs.patterns}
    failure_policy: continue
    max_concurrency: 2
    agent: fail
    action: fail
    retry: {max_attempts: 1}
    input: {pattern: "${item}"}
"#,
    )
    .await;
    let id = h
        .start(
            "tolerant",
            json!({"patterns": ["ok", "fail", "ok", "fail", "ok"]}),
        )
        .await;
    let done = h.wait(id, Duration::from_secs(60)).await;
    assert_eq!(done.status, "succeeded", "{:?}", done.error);
    let output = h.steps(id).await["each"].output.clone().unwrap();
    assert_eq!(output["succeeded"], 3);
    assert_eq!(output["failed"], 2);
    let results = output["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for i in [0, 2, 4] {
        assert_eq!(results[i]["each"], json!({"attempt": 1}), "result {i}");
    }
    assert_eq!(results[1], Value::Null);
    assert_eq!(results[3], Value::Null);
    let failures = output["failures"].as_array().unwrap();
    let indices: Vec<u64> = failures
        .iter()
        .map(|f| f["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, vec![1, 3]);
    assert!(
        failures[0]["error"]
            .as_str()
            .unwrap()
            .contains("planned permanent failure"),
        "{failures:?}"
    );
    // Listings tell what a user started from what a fan-out started.
    let list = |family| {
        h.db.list_missions(rex_store::MissionFilter {
            family,
            ..Default::default()
        })
    };
    let top = list(rex_store::Family::TopLevel).await.unwrap();
    assert_eq!(top.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
    let children = list(rex_store::Family::ChildrenOf(id)).await.unwrap();
    assert_eq!(children.len(), 5);
    assert!(
        children
            .iter()
            .all(|c| c.definition_name == "tolerant/each")
    );
    assert_eq!(list(rex_store::Family::All).await.unwrap().len(), 6);
    h.finish().await;
}

async fn fail_fast_fails_the_step_and_cancels_the_running_items(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(8).await;
    h.push(
        r#"
name: child
version: 1
inputs:
  ms: {type: integer, required: true}
  pattern: {type: string, required: true}
steps:
  - {id: work, agent: sleep, action: sleep, input: {ms: "${inputs.ms}"}}
  - {id: verdict, agent: fail, action: fail, depends_on: [work], retry: {max_attempts: 1}, input: {pattern: "${inputs.pattern}"}}
"#,
    )
    .await;
    h.push(
        r#"
name: strict
version: 1
inputs:
  items: {type: array, required: true}
steps:
  - id: each
    for_each: ${inputs.items}
    max_concurrency: 3
    workflow: child
    input: {ms: "${item.ms}", pattern: "${item.pattern}"}
  - {id: never, agent: noop, action: noop, depends_on: [each]}
"#,
    )
    .await;
    let items = json!([
        {"ms": 10, "pattern": "fail"},
        {"ms": 3000, "pattern": "ok"},
        {"ms": 3000, "pattern": "ok"},
        {"ms": 10, "pattern": "ok"},
    ]);
    let id = h.start("strict", json!({"items": items})).await;
    let done = h.wait(id, Duration::from_secs(60)).await;
    assert_eq!(done.status, "failed");
    let error = done.error.unwrap();
    assert!(
        error.contains("item 0 failed") && error.contains("planned permanent failure"),
        "{error}"
    );
    let steps = h.steps(id).await;
    assert_eq!(steps["never"].status, "cancelled");
    // The two long items were cancelled, and the fourth never started.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let children = children_of(&h, id).await;
        let statuses: Vec<(i32, String)> = children
            .iter()
            .map(|(i, m)| (*i, m.status.clone()))
            .collect();
        if statuses
            == vec![
                (0, "failed".to_owned()),
                (1, "cancelled".to_owned()),
                (2, "cancelled".to_owned()),
            ]
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "children: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.finish().await;
}

async fn cancelling_the_parent_cancels_its_children(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(8).await;
    h.push(
        r#"
name: napper
version: 1
steps:
  - {id: nap, agent: sleep, action: sleep, input: {ms: 60000}}
"#,
    )
    .await;
    h.push(
        r#"
name: naps
version: 1
steps:
  - {id: seed, agent: echo, action: echo, input: {list: [1, 2, 3, 4]}}
  - {id: each, depends_on: [seed], for_each: "${steps.seed.output.list}", max_concurrency: 4, workflow: napper}
"#,
    )
    .await;
    let id = h.start("naps", json!({})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while children_of(&h, id).await.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "children never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h.engine.cancel_mission(id, "operator").await.unwrap());
    let done = h.wait(id, Duration::from_secs(10)).await;
    assert_eq!(done.status, "cancelled");
    for (i, child) in children_of(&h, id).await {
        let child = h.wait(child.id, Duration::from_secs(20)).await;
        assert_eq!(child.status, "cancelled", "child {i}");
    }
    h.finish().await;
}

async fn a_child_workflow_step_takes_the_childs_output(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(4).await;
    h.push(
        r#"
name: greeter
version: 1
inputs:
  who: {type: string, required: true}
steps:
  - {id: hello, agent: echo, action: echo, input: {greeting: "hello ${inputs.who}"}}
"#,
    )
    .await;
    h.push(
        r#"
name: outer
version: 1
steps:
  - {id: greet, workflow: greeter, input: {who: ada}}
  - {id: empty, for_each: "${steps.greet.output.hello.list}", agent: noop, action: noop, depends_on: [greet], when: "false"}
  - {id: none, depends_on: [greet, zero], for_each: "${steps.zero.output.items}", agent: noop, action: noop}
  - {id: zero, agent: echo, action: echo, input: {items: []}}
"#,
    )
    .await;
    let id = h.start("outer", json!({})).await;
    let done = h.wait(id, Duration::from_secs(30)).await;
    assert_eq!(done.status, "succeeded", "{:?}", done.error);
    let steps = h.steps(id).await;
    assert_eq!(
        steps["greet"].output.clone().unwrap(),
        json!({"hello": {"greeting": "hello ada"}})
    );
    assert_eq!(
        steps["none"].output.clone().unwrap(),
        json!({"results": [], "failures": [], "total": 0, "succeeded": 0, "failed": 0})
    );
    assert_eq!(steps["empty"].status, "skipped");
    h.finish().await;
}

both_backends!(
    a_thousand_items_never_run_more_than_max_concurrency,
    continue_lists_failures_and_keeps_results_in_order,
    fail_fast_fails_the_step_and_cancels_the_running_items,
    cancelling_the_parent_cancels_its_children,
    a_child_workflow_step_takes_the_childs_output,
);
