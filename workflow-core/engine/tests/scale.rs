//! Several orchestrators and workers over many concurrent missions.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use support::{Backend, Harness};

async fn two_orchestrators_three_workers_complete_every_step_exactly_once(backend: Backend) {
    let mut h = Harness::new(backend).await;
    h.spawn_orchestrator().await;
    h.spawn_orchestrator().await;
    for _ in 0..3 {
        h.spawn_worker(8).await;
    }
    h.push(
        r#"
name: fan
version: 1
steps:
  - {id: a, agent: echo, action: echo, input: {i: 1}}
  - {id: b, agent: noop, action: noop, depends_on: [a]}
  - {id: c, agent: echo, action: echo, input: {x: "${steps.a.output.i}"}, depends_on: [a]}
  - {id: d, agent: noop, action: noop, depends_on: [b, c]}
"#,
    )
    .await;
    let ids = join_all((0..200).map(|_| h.start("fan", json!({})))).await;
    for &id in &ids {
        let m = h.wait(id, Duration::from_secs(120)).await;
        assert_eq!(m.status, "succeeded", "mission {id}: {:?}", m.error);
    }
    for &id in &ids {
        let steps = h.steps(id).await;
        assert_eq!(steps.len(), 4);
        for s in steps.values() {
            assert_eq!((s.status.as_str(), s.attempt), ("succeeded", 1), "{s:?}");
        }
        let mut per_step: HashMap<String, i32> = HashMap::new();
        for a in h.attempts(id).await {
            assert_eq!(
                a.executions, 1,
                "{} ran {} times",
                a.idempotency_key, a.executions
            );
            *per_step.entry(a.step_id).or_default() += 1;
        }
        assert_eq!(per_step.len(), 4);
        assert!(per_step.values().all(|&n| n == 1), "{per_step:?}");
    }
    assert_eq!(h.db.count_outbox().await.unwrap(), 0);
    h.finish().await;
}

both_backends!(two_orchestrators_three_workers_complete_every_step_exactly_once);
