use rex_store::{MissionFilter, Store, StoreError, insert_mission, lock_mission, lock_missions};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::{at, mission, stored_definition};

on_both_backends!(
    a_mission_is_inserted_and_read_back,
    a_duplicate_idempotency_key_is_a_unique_violation,
    missions_are_listed_newest_first_with_filters,
    pages_follow_the_cursor_without_gaps_or_repeats,
    updated_missions_are_written_whole,
    updating_an_unknown_mission_is_not_found,
    locking_reads_the_missions_in_id_order,
);

async fn a_mission_is_inserted_and_read_back(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let mut m = mission(&def, "pending", at(0));
    m.idempotency_key = Some("req-1".into());
    insert_mission(store.conn(), m.clone()).await?;

    assert_eq!(store.get_mission(m.id).await?, Some(m.clone()));
    assert_eq!(
        store.find_mission_by_idempotency_key("req-1").await?,
        Some(m)
    );
    assert_eq!(store.find_mission_by_idempotency_key("req-2").await?, None);
    assert_eq!(store.get_mission(Uuid::now_v7()).await?, None);
    Ok(())
}

async fn a_duplicate_idempotency_key_is_a_unique_violation(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let mut first = mission(&def, "pending", at(0));
    first.idempotency_key = Some("req-1".into());
    insert_mission(store.conn(), first.clone()).await?;
    // missions without a key never collide
    insert_mission(store.conn(), mission(&def, "pending", at(1))).await?;
    insert_mission(store.conn(), mission(&def, "pending", at(2))).await?;

    let mut second = mission(&def, "pending", at(3));
    second.idempotency_key = Some("req-1".into());
    let err = insert_mission(store.conn(), second)
        .await
        .expect_err("the key is taken");
    assert!(err.is_unique_violation(), "{err:?}");
    assert!(!err.is_retryable());
    Ok(())
}

async fn missions_are_listed_newest_first_with_filters(store: &Store) -> anyhow::Result<()> {
    let revive = stored_definition(store, "revive", 1).await;
    let analytics = stored_definition(store, "analytics", 1).await;
    let rows = [
        mission(&revive, "running", at(0)),
        mission(&revive, "succeeded", at(1)),
        mission(&analytics, "running", at(2)),
        mission(&revive, "running", at(3)),
    ];
    for m in &rows {
        insert_mission(store.conn(), m.clone()).await?;
    }
    let ids =
        |ms: Vec<rex_store::missions::Model>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();

    let all = store.list_missions(MissionFilter::default()).await?;
    assert_eq!(ids(all), [rows[3].id, rows[2].id, rows[1].id, rows[0].id]);

    let running = store
        .list_missions(MissionFilter {
            status: Some("running".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(ids(running), [rows[3].id, rows[2].id, rows[0].id]);

    let running_revive = store
        .list_missions(MissionFilter {
            status: Some("running".into()),
            definition: Some("revive".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(ids(running_revive), [rows[3].id, rows[0].id]);

    let limited = store
        .list_missions(MissionFilter {
            limit: 1,
            ..Default::default()
        })
        .await?;
    assert_eq!(ids(limited), [rows[3].id]);
    Ok(())
}

async fn pages_follow_the_cursor_without_gaps_or_repeats(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    // pairs share a created_at, so the cursor must break ties by id
    let mut inserted = Vec::new();
    for i in 0..11 {
        let m = mission(&def, "running", at(i / 2));
        insert_mission(store.conn(), m.clone()).await?;
        inserted.push(m);
    }
    inserted.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_missions(MissionFilter {
                limit: 3,
                before,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        before = Some((last.created_at, last.id));
        assert!(page.len() <= 3);
        seen.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(seen, inserted.iter().map(|m| m.id).collect::<Vec<_>>());
    Ok(())
}

async fn updated_missions_are_written_whole(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let a = mission(&def, "running", at(0));
    let b = mission(&def, "running", at(1));
    insert_mission(store.conn(), a.clone()).await?;
    insert_mission(store.conn(), b.clone()).await?;

    let txn = store.begin().await?;
    let mut locked = lock_missions(&txn, &[b.id, a.id]).await?;
    for m in &mut locked {
        m.status = "succeeded".into();
        m.output = Some(json!({"booked": 2}));
        m.updated_at = at(60);
        m.finished_at = Some(at(60));
    }
    rex_store::update_missions(&txn, &locked).await?;
    txn.commit().await?;

    let stored = store.get_mission(a.id).await?.expect("mission a");
    assert_eq!(stored.status, "succeeded");
    assert_eq!(stored.output, Some(json!({"booked": 2})));
    assert_eq!(stored.finished_at, Some(at(60)));
    assert_eq!(stored.created_at, a.created_at);
    assert_eq!(stored.input, a.input);
    Ok(())
}

async fn updating_an_unknown_mission_is_not_found(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let ghost = mission(&def, "running", at(0));
    let err = rex_store::update_missions(store.conn(), &[ghost])
        .await
        .expect_err("no such mission");
    assert!(
        matches!(
            err,
            StoreError::NotFound {
                entity: "mission",
                ..
            }
        ),
        "{err:?}"
    );
    Ok(())
}

async fn locking_reads_the_missions_in_id_order(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = mission(&def, "running", at(i));
        insert_mission(store.conn(), m.clone()).await?;
        ids.push(m.id);
    }
    let txn = store.begin().await?;
    let asked = [ids[3], ids[0], Uuid::now_v7(), ids[4], ids[0]];
    let locked = lock_missions(&txn, &asked).await?;
    let locked_ids: Vec<Uuid> = locked.iter().map(|m| m.id).collect();
    let mut expected = vec![ids[0], ids[3], ids[4]];
    expected.sort();
    assert_eq!(locked_ids, expected);

    assert_eq!(
        lock_mission(&txn, ids[1]).await?.map(|m| m.id),
        Some(ids[1])
    );
    assert_eq!(lock_mission(&txn, Uuid::now_v7()).await?, None);
    txn.commit().await?;
    Ok(())
}
