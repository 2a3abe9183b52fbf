//! Many timers due at once: all fire, none twice, shared between orchestrators.

mod support;

use std::time::Duration;

use futures::future::join_all;
use rex_store::entity::timers;
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;
use support::{Backend, Harness};

/// 10,000 missions' timers all due at the same moment, while two orchestrators (SKIP
/// LOCKED) share the firing.
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
    // Start every mission first, with no orchestrator, waiting an hour; then time
    // "passes": every timer is made due at the same instant two seconds from now.
    let input = json!({"at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()});
    let mut ids = Vec::with_capacity(N);
    for _ in 0..N / 500 {
        ids.extend(join_all((0..500).map(|_| h.start("appointment", input.clone()))).await);
    }
    let pending = timers::Entity::find().count(h.db.conn()).await.unwrap();
    assert_eq!(pending, N as u64);
    let due = rex_store::to_db_precision(chrono::Utc::now() + chrono::Duration::seconds(2));
    timers::Entity::update_many()
        .col_expr(timers::Column::DueAt, Expr::value(due))
        .exec(h.db.conn())
        .await
        .unwrap();
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
