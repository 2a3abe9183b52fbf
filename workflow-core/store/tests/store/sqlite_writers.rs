//! SQLite has no row locks: `Store::begin` takes the single writer lock up front
//! (`BEGIN IMMEDIATE`), which is what makes `lock_mission` safe there.

use std::time::Duration;

use rex_store::testing::fresh_sqlite;
use rex_store::{Store, lock_mission, update_missions};

use crate::fixtures::{at, stored_mission};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_sqlite_writer_waits_for_the_first_to_commit() -> anyhow::Result<()> {
    let db = fresh_sqlite().await;
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
        "the second writer must wait for the first"
    );
    // readers are not blocked by the writer (WAL)
    assert_eq!(
        db.get_mission(m.id).await?.map(|r| r.status),
        Some("running".into())
    );

    locked.status = "succeeded".into();
    locked.updated_at = at(5);
    update_missions(&holder, std::slice::from_ref(&locked)).await?;
    holder.commit().await?;

    let seen = tokio::time::timeout(Duration::from_secs(10), waiter).await???;
    assert_eq!(seen.status, "succeeded");
    Ok(())
}
