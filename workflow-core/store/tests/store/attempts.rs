use std::time::Duration;

use rex_store::{AttemptOutcome, Claim, NewAttempt, Store, StoreError, attempts};
use serde_json::json;
use uuid::Uuid;

on_both_backends!(
    recording_a_run_stores_its_outcome_and_one_execution,
    recording_again_keeps_the_first_outcome_and_counts_the_execution,
    a_failed_run_keeps_its_error_and_retryability,
    concurrent_records_of_one_key_keep_one_outcome,
    attempts_of_a_mission_are_listed_oldest_first,
    a_new_attempt_is_claimed_and_a_copy_is_busy_while_the_lease_holds,
    a_passed_lease_is_taken_over,
    a_finished_attempt_is_answered_not_claimed,
    a_renewed_lease_keeps_copies_away,
    a_batch_answers_in_order_with_repeats_busy,
    a_task_of_an_ended_mission_is_claimed_as_void_and_skipped,
);

fn new_attempt(key: &str) -> NewAttempt {
    NewAttempt {
        key: key.to_owned(),
        mission_id: Uuid::now_v7(),
        step_id: "send".into(),
        attempt: 1,
        agent: "outreach".into(),
        worker: Some("outreach-7d9f-1".into()),
    }
}

fn success() -> AttemptOutcome {
    AttemptOutcome {
        succeeded: true,
        output: Some(json!({"message_id": "sg-1"})),
        error: None,
        retryable: None,
        deferred: false,
    }
}

fn failure() -> AttemptOutcome {
    AttemptOutcome {
        succeeded: false,
        output: None,
        error: Some("provider down".into()),
        retryable: Some(true),
        deferred: false,
    }
}

async fn recording_a_run_stores_its_outcome_and_one_execution(store: &Store) -> anyhow::Result<()> {
    assert_eq!(store.get_attempt("k1").await?, None);
    let started = chrono::Utc::now() - chrono::Duration::milliseconds(40);
    let row = record(store, "k1", started, success()).await?;
    assert_eq!(row.status, attempts::status::SUCCEEDED);
    assert_eq!(row.executions, 1);
    assert_eq!(row.output, Some(json!({"message_id": "sg-1"})));
    assert_eq!(row.worker.as_deref(), Some("outreach-7d9f-1"));
    assert_eq!(row.started_at, rex_store::to_db_precision(started));
    assert!(row.finished_at.unwrap() >= row.started_at);
    assert!(row.is_finished());
    assert_eq!(store.get_attempt("k1").await?, Some(row));
    Ok(())
}

async fn recording_again_keeps_the_first_outcome_and_counts_the_execution(
    store: &Store,
) -> anyhow::Result<()> {
    let first = record(store, "k1", chrono::Utc::now(), success()).await?;
    let second = record(store, "k1", chrono::Utc::now(), failure()).await?;
    assert_eq!(second.status, attempts::status::SUCCEEDED);
    assert_eq!(second.output, first.output);
    assert_eq!(second.executions, 2, "the repeated side effect is counted");
    Ok(())
}

async fn a_failed_run_keeps_its_error_and_retryability(store: &Store) -> anyhow::Result<()> {
    let row = record(store, "k1", chrono::Utc::now(), failure()).await?;
    assert_eq!(row.status, attempts::status::FAILED);
    assert_eq!(row.error.as_deref(), Some("provider down"));
    assert_eq!(row.retryable, Some(true));
    assert!(row.is_finished());
    Ok(())
}

async fn concurrent_records_of_one_key_keep_one_outcome(store: &Store) -> anyhow::Result<()> {
    let records = (0..4).map(|i| {
        let outcome = if i % 2 == 0 { success() } else { failure() };
        record(store, "k1", chrono::Utc::now(), outcome)
    });
    let rows: Vec<attempts::Model> = futures::future::join_all(records)
        .await
        .into_iter()
        .collect::<Result<_, StoreError>>()?;
    let last = store.get_attempt("k1").await?.expect("recorded");
    assert_eq!(last.executions, 4);
    for row in rows {
        assert_eq!(
            row.status, last.status,
            "every caller sees the first outcome"
        );
    }
    Ok(())
}

async fn attempts_of_a_mission_are_listed_oldest_first(store: &Store) -> anyhow::Result<()> {
    let mission = Uuid::now_v7();
    let t0 = chrono::Utc::now();
    for attempt in [2, 1] {
        let mut a = new_attempt(&format!("{mission}:send:{attempt}"));
        a.mission_id = mission;
        a.attempt = attempt;
        let started = t0 + chrono::Duration::milliseconds(i64::from(attempt) * 10);
        store.record_attempts(&[(a, started, failure())]).await?;
    }
    record(store, "other", t0, success()).await?;
    let listed = store.mission_attempts(mission).await?;
    assert_eq!(listed.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
    Ok(())
}

async fn record(
    store: &Store,
    key: &str,
    started: chrono::DateTime<chrono::Utc>,
    outcome: AttemptOutcome,
) -> Result<attempts::Model, StoreError> {
    let mut rows = store
        .record_attempts(&[(new_attempt(key), started, outcome)])
        .await?;
    Ok(rows.remove(0))
}

const LEASE: Duration = Duration::from_secs(30);

async fn a_new_attempt_is_claimed_and_a_copy_is_busy_while_the_lease_holds(
    store: &Store,
) -> anyhow::Result<()> {
    let claims = store.claim_attempts(&[new_attempt("k1")], LEASE).await?;
    let Claim::Run(row) = &claims[0] else {
        panic!("expected to run: {claims:?}")
    };
    assert_eq!(row.status, attempts::status::RUNNING);
    assert!(row.lease_until.unwrap() > chrono::Utc::now() + chrono::Duration::seconds(20));
    let mut copy = new_attempt("k1");
    copy.worker = Some("outreach-7d9f-2".into());
    let again = store.claim_attempts(&[copy], LEASE).await?;
    assert!(matches!(&again[0], Claim::Busy(r) if r.worker.as_deref() == Some("outreach-7d9f-1")));
    Ok(())
}

async fn a_passed_lease_is_taken_over(store: &Store) -> anyhow::Result<()> {
    store
        .claim_attempts(&[new_attempt("k1")], Duration::from_millis(1))
        .await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut next = new_attempt("k1");
    next.worker = Some("outreach-7d9f-2".into());
    let claims = store.claim_attempts(&[next], LEASE).await?;
    assert!(
        matches!(&claims[0], Claim::Run(r) if r.worker.as_deref() == Some("outreach-7d9f-2")),
        "{claims:?}"
    );
    Ok(())
}

async fn a_finished_attempt_is_answered_not_claimed(store: &Store) -> anyhow::Result<()> {
    store.claim_attempts(&[new_attempt("k1")], LEASE).await?;
    let done = record(store, "k1", chrono::Utc::now(), success()).await?;
    assert_eq!(done.executions, 1);
    assert_eq!(done.lease_until, None);
    let claims = store.claim_attempts(&[new_attempt("k1")], LEASE).await?;
    assert_eq!(claims, [Claim::Finished(done)]);
    Ok(())
}

async fn a_renewed_lease_keeps_copies_away(store: &Store) -> anyhow::Result<()> {
    store
        .claim_attempts(&[new_attempt("k1")], Duration::from_millis(1))
        .await?;
    let renewed = store
        .extend_leases("outreach-7d9f-1", &["k1".into()], LEASE)
        .await?;
    assert_eq!(renewed, 1);
    assert_eq!(
        store
            .extend_leases("someone-else", &["k1".into()], LEASE)
            .await?,
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let claims = store.claim_attempts(&[new_attempt("k1")], LEASE).await?;
    assert!(matches!(claims[0], Claim::Busy(_)), "{claims:?}");
    Ok(())
}

async fn a_batch_answers_in_order_with_repeats_busy(store: &Store) -> anyhow::Result<()> {
    record(store, "done", chrono::Utc::now(), success()).await?;
    let batch: Vec<NewAttempt> = ["a", "done", "b", "a"]
        .iter()
        .map(|k| new_attempt(k))
        .collect();
    let claims = store.claim_attempts(&batch, LEASE).await?;
    assert!(matches!(&claims[0], Claim::Run(r) if r.idempotency_key == "a"));
    assert!(matches!(&claims[1], Claim::Finished(r) if r.idempotency_key == "done"));
    assert!(matches!(&claims[2], Claim::Run(r) if r.idempotency_key == "b"));
    assert!(matches!(&claims[3], Claim::Busy(r) if r.idempotency_key == "a"));
    // Records of a batch that repeats a key: one outcome, both executions counted.
    let runs = vec![
        (new_attempt("a"), chrono::Utc::now(), success()),
        (new_attempt("b"), chrono::Utc::now(), failure()),
        (new_attempt("a"), chrono::Utc::now(), failure()),
    ];
    let rows = store.record_attempts(&runs).await?;
    assert_eq!(rows[0].status, attempts::status::SUCCEEDED);
    assert_eq!(rows[1].status, attempts::status::FAILED);
    assert_eq!(rows[2].status, attempts::status::SUCCEEDED);
    assert_eq!(store.get_attempt("a").await?.unwrap().executions, 2);
    Ok(())
}

async fn a_task_of_an_ended_mission_is_claimed_as_void_and_skipped(
    store: &Store,
) -> anyhow::Result<()> {
    let def = crate::fixtures::stored_definition(store, "revive", 1).await;
    let cancelled = crate::fixtures::mission(&def, "cancelled", crate::fixtures::t0());
    rex_store::insert_mission(store.conn(), cancelled.clone()).await?;
    let running = crate::fixtures::stored_mission(store).await;
    let task = |key: &str, mission| NewAttempt {
        mission_id: mission,
        ..new_attempt(key)
    };
    let claims = store
        .claim_attempts(
            &[task("late", cancelled.id), task("live", running.id)],
            LEASE,
        )
        .await?;
    assert!(matches!(&claims[0], Claim::MissionEnded(r) if r.idempotency_key == "late"));
    assert!(matches!(&claims[1], Claim::Run(r) if r.idempotency_key == "live"));
    assert_eq!(
        store
            .skip_attempts(&["late".into()], "not run: the mission had ended")
            .await?,
        1
    );
    let again = store
        .claim_attempts(&[task("late", cancelled.id)], LEASE)
        .await?;
    let Claim::Finished(row) = &again[0] else {
        panic!("a skipped attempt answers its copies: {again:?}")
    };
    assert_eq!(row.status, attempts::status::SKIPPED);
    assert_eq!(row.executions, 0, "nothing ran");
    Ok(())
}
