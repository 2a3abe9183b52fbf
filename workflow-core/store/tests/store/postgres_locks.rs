//! Row locks exist on PostgreSQL only (SQLite serialises writers as a whole), so these
//! cases run there alone.

use std::collections::HashSet;
use std::time::Duration;

use rex_store::testing::fresh_postgres;
use rex_store::{
    Store, claim_due_timers, claim_outbox, delete_outbox, delete_timers, insert_mission,
    insert_outbox, insert_timers, lock_mission, lock_missions, now, update_missions,
};
use uuid::Uuid;

use crate::fixtures::{at, mission, stored_definition, stored_mission, timer};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_timer_claims_get_disjoint_sets() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let m = stored_mission(&db).await;
    let timers: Vec<_> = (0..10).map(|i| timer(m.id, "delay", at(i))).collect();
    insert_timers(db.conn(), timers.clone()).await?;

    let first = db.begin().await?;
    let second = db.begin().await?;
    let a = claim_due_timers(&first, at(100), 4).await?;
    let b = claim_due_timers(&second, at(100), 10).await?;
    assert_eq!(a.len(), 4);
    assert_eq!(
        b.len(),
        6,
        "the second claimer skips the rows the first holds"
    );
    let a_ids: HashSet<Uuid> = a.iter().map(|t| t.id).collect();
    assert!(b.iter().all(|t| !a_ids.contains(&t.id)));
    // the first claimer took the earliest
    assert_eq!(a, timers[..4]);
    first.rollback().await?;
    second.rollback().await?;

    // replicas racing to fire: every timer fired exactly once
    let mut replicas = Vec::new();
    for _ in 0..4 {
        let store: Store = (*db).clone();
        replicas.push(tokio::spawn(async move {
            let mut fired = Vec::new();
            loop {
                let txn = store.begin().await?;
                let batch = claim_due_timers(&txn, at(100), 2).await?;
                if batch.is_empty() {
                    txn.rollback().await?;
                    return anyhow::Ok(fired);
                }
                let ids: Vec<Uuid> = batch.iter().map(|t| t.id).collect();
                assert_eq!(delete_timers(&txn, &ids).await?, ids.len() as u64);
                tokio::time::sleep(Duration::from_millis(5)).await;
                txn.commit().await?;
                fired.extend(ids);
            }
        }));
    }
    let mut all = Vec::new();
    for replica in replicas {
        all.extend(replica.await??);
    }
    let unique: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), 10, "no timer fired twice");
    assert_eq!(unique, timers.iter().map(|t| t.id).collect());
    db.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_outbox_claims_get_disjoint_sets() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let m = stored_mission(&db).await;
    let rows = (0..6)
        .map(|n| rex_store::NewOutbox {
            mission_id: m.id,
            destination: "scraper".into(),
            message_id: format!("msg-{n}"),
            headers: Default::default(),
            body: "{}".into(),
        })
        .collect();
    let ids = insert_outbox(db.conn(), rows).await?;
    let later = now() + chrono::Duration::seconds(1);

    let first = db.begin().await?;
    let second = db.begin().await?;
    let a = claim_outbox(&first, later, 4).await?;
    let b = claim_outbox(&second, later, 4).await?;
    assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..4]);
    assert_eq!(b.iter().map(|r| r.id).collect::<Vec<_>>(), ids[4..]);
    delete_outbox(&first, &ids[..4]).await?;
    first.commit().await?;
    second.rollback().await?;
    assert_eq!(db.count_outbox().await?, 2);
    db.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_locked_mission_blocks_the_second_locker_until_commit() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let m = stored_mission(&db).await;

    let holder = db.begin().await?;
    let mut locked = lock_mission(&holder, m.id).await?.expect("mission");

    let store: Store = (*db).clone();
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let txn = store.begin().await?;
        let seen = lock_mission(&txn, m.id).await?.expect("mission");
        let _ = tx.send(());
        txn.commit().await?;
        anyhow::Ok(seen)
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rx.try_recv().is_err(),
        "the second locker must wait for the first"
    );

    locked.status = "succeeded".into();
    locked.updated_at = at(5);
    update_missions(&holder, std::slice::from_ref(&locked)).await?;
    holder.commit().await?;

    let seen = tokio::time::timeout(Duration::from_secs(10), waiter).await???;
    assert_eq!(
        seen.status, "succeeded",
        "the waiter reads the committed row"
    );
    db.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locking_overlapping_sets_in_any_order_never_deadlocks() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let def = stored_definition(&db, "revive", 1).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let m = mission(&def, "running", at(i));
        insert_mission(db.conn(), m.clone()).await?;
        ids.push(m.id);
    }
    let mut tasks = Vec::new();
    for round in 0..16 {
        let store: Store = (*db).clone();
        let mut mine = ids.clone();
        if round % 2 == 1 {
            mine.reverse();
        }
        tasks.push(tokio::spawn(async move {
            let txn = store.begin().await?;
            let mut rows = lock_missions(&txn, &mine).await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
            for row in &mut rows {
                row.updated_at = now();
            }
            update_missions(&txn, &rows).await?;
            txn.commit().await?;
            anyhow::Ok(rows.len())
        }));
    }
    for task in tasks {
        assert_eq!(task.await??, 4);
    }
    db.cleanup().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadlock_from_unordered_locks_is_a_retryable_error() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let def = stored_definition(&db, "revive", 1).await;
    let (a, b) = (
        mission(&def, "running", at(0)),
        mission(&def, "running", at(1)),
    );
    insert_mission(db.conn(), a.clone()).await?;
    insert_mission(db.conn(), b.clone()).await?;

    // one mission at a time, in opposite orders: what lock_missions exists to prevent
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let lock_both = |first: Uuid, second: Uuid| {
        let store: Store = (*db).clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let txn = store.begin().await?;
            lock_mission(&txn, first).await?;
            barrier.wait().await;
            lock_mission(&txn, second).await?;
            txn.commit().await?;
            Ok::<(), rex_store::StoreError>(())
        })
    };
    let one = lock_both(a.id, b.id);
    let two = lock_both(b.id, a.id);
    let results = [one.await?, two.await?];
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        errors.len(),
        1,
        "PostgreSQL aborts exactly one side: {results:?}"
    );
    assert!(errors[0].is_retryable(), "{:?}", errors[0]);
    db.cleanup().await;
    Ok(())
}
