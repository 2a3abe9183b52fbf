use rex_store::{AttemptOutcome, NewAttempt, Store, StoreError, attempts};
use serde_json::json;
use uuid::Uuid;

on_both_backends!(
    beginning_twice_returns_the_same_running_attempt,
    finishing_twice_keeps_the_first_outcome_and_one_execution,
    a_finished_attempt_is_returned_unchanged_by_begin,
    finishing_an_unknown_attempt_is_not_found,
    concurrent_finishes_count_one_execution,
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
    }
}

async fn beginning_twice_returns_the_same_running_attempt(store: &Store) -> anyhow::Result<()> {
    assert_eq!(store.get_attempt("k1").await?, None);
    let first = store.begin_attempt(new_attempt("k1")).await?;
    assert_eq!(first.status, attempts::status::RUNNING);
    assert_eq!(first.executions, 0);
    assert!(!first.is_finished());

    let mut other_worker = new_attempt("k1");
    other_worker.worker = Some("outreach-7d9f-2".into());
    let second = store.begin_attempt(other_worker).await?;
    assert_eq!(second, first);
    assert_eq!(store.get_attempt("k1").await?, Some(first));
    Ok(())
}

async fn finishing_twice_keeps_the_first_outcome_and_one_execution(
    store: &Store,
) -> anyhow::Result<()> {
    store.begin_attempt(new_attempt("k1")).await?;
    let finished = store.finish_attempt("k1", success()).await?;
    assert_eq!(finished.status, attempts::status::SUCCEEDED);
    assert_eq!(finished.executions, 1);
    assert_eq!(finished.output, Some(json!({"message_id": "sg-1"})));
    assert!(finished.finished_at.is_some());

    let again = store
        .finish_attempt(
            "k1",
            AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some("smtp 421".into()),
                retryable: Some(true),
            },
        )
        .await?;
    assert_eq!(again, finished);
    assert_eq!(again.executions, 1);
    Ok(())
}

async fn a_finished_attempt_is_returned_unchanged_by_begin(store: &Store) -> anyhow::Result<()> {
    store.begin_attempt(new_attempt("k1")).await?;
    let failed = store
        .finish_attempt(
            "k1",
            AttemptOutcome {
                succeeded: false,
                output: None,
                error: Some("provider down".into()),
                retryable: Some(true),
            },
        )
        .await?;
    assert_eq!(failed.status, attempts::status::FAILED);
    assert_eq!(failed.retryable, Some(true));
    assert!(failed.is_finished());
    assert_eq!(store.begin_attempt(new_attempt("k1")).await?, failed);
    Ok(())
}

async fn finishing_an_unknown_attempt_is_not_found(store: &Store) -> anyhow::Result<()> {
    let err = store
        .finish_attempt("never-begun", success())
        .await
        .expect_err("no such attempt");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "attempt",
                ..
            }
        ),
        "{err:?}"
    );
    Ok(())
}

async fn concurrent_finishes_count_one_execution(store: &Store) -> anyhow::Result<()> {
    store.begin_attempt(new_attempt("k1")).await?;
    let finishes = (0..4).map(|_| store.finish_attempt("k1", success()));
    let results = futures::future::join_all(finishes).await;
    for r in results {
        assert_eq!(r?.executions, 1);
    }
    Ok(())
}
