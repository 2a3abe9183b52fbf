//! Many timers due at once: all fire, none twice, shared between orchestrators.

mod support;

use std::time::Duration;

use futures::future::join_all;
use rex_store::entity::timers;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use support::{Backend, Harness};

/// 10,000 missions each wait until the same moment one second ahead, while two
/// orchestrators (SKIP LOCKED) share the firing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_timers_due_together_all_fire_once() {
    const N: usize = 10_000;
    let mut h = Harness::new(Backend::Production).await;
    h.push(
        r#"
name: appointment
version: 1
inputs:
  at: {type: string, required: true}
steps:
  - {id: wait, wait_until: "${inputs.at}"}
"#,
    )
    .await;
    // Start every mission first (no orchestrator yet), all due at the same instant.
    let due = chrono::Utc::now() + chrono::Duration::seconds(25);
    let input = json!({"at": due.to_rfc3339()});
    let mut ids = Vec::with_capacity(N);
    for chunk in 0..N / 500 {
        let started = join_all((0..500).map(|_| h.start("appointment", input.clone()))).await;
        ids.extend(started);
        assert!(
            chrono::Utc::now() < due,
            "starting took too long ({chunk} chunks)"
        );
    }
    let pending = timers::Entity::find().count(h.db.conn()).await.unwrap();
    assert_eq!(pending, N as u64);
    h.spawn_orchestrator().await;
    h.spawn_orchestrator().await;
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    for &id in &ids {
        let m = h.wait(id, Duration::from_secs(60)).await;
        assert_eq!(m.status, "succeeded");
    }
    let mut late = Vec::with_capacity(N);
    for &id in &ids {
        let step = &h.steps(id).await["wait"];
        assert_eq!(step.attempt, 1);
        late.push((step.finished_at.unwrap() - due).num_milliseconds());
    }
    late.sort_unstable();
    assert!(late[0] >= 0, "a timer fired early: {} ms", late[0]);
    assert_eq!(timers::Entity::find().count(h.db.conn()).await.unwrap(), 0);
    println!(
        "10,000 timers fired: lateness p50 {} ms, p99 {} ms, max {} ms",
        late[N / 2],
        late[N * 99 / 100],
        late[N - 1]
    );
    h.finish().await;
}
