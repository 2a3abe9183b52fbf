use rex_store::{Store, insert_mission, load_steps, upsert_steps};
use serde_json::json;

use crate::fixtures::{at, mission, step, stored_definition, stored_mission};

on_both_backends!(
    steps_are_inserted_then_overwritten_by_key,
    the_last_row_wins_when_a_batch_repeats_a_key,
    batches_larger_than_the_bind_limit_are_split,
    steps_of_several_missions_load_in_one_call,
);

async fn steps_are_inserted_then_overwritten_by_key(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let score = step(m.id, "score", "dispatched");
    let enrich = step(m.id, "enrich", "pending");
    upsert_steps(store.conn(), &[score.clone(), enrich.clone()]).await?;
    assert_eq!(
        store.mission_steps(m.id).await?,
        [enrich.clone(), score.clone()]
    );

    let mut done = score.clone();
    done.status = "succeeded".into();
    done.output = Some(json!({"score": 0.82}));
    done.finished_at = Some(at(30));
    done.updated_at = at(30);
    upsert_steps(store.conn(), std::slice::from_ref(&done)).await?;
    assert_eq!(store.mission_steps(m.id).await?, [enrich, done]);
    Ok(())
}

async fn the_last_row_wins_when_a_batch_repeats_a_key(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let first = step(m.id, "score", "dispatched");
    let mut second = first.clone();
    second.status = "succeeded".into();
    second.attempt = 2;
    upsert_steps(store.conn(), &[first, second.clone()]).await?;
    assert_eq!(store.mission_steps(m.id).await?, [second]);
    Ok(())
}

async fn batches_larger_than_the_bind_limit_are_split(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let rows: Vec<_> = (0..1500)
        .map(|i| step(m.id, &format!("lead-{i:04}"), "pending"))
        .collect();
    upsert_steps(store.conn(), &rows).await?;
    let stored = store.mission_steps(m.id).await?;
    assert_eq!(stored.len(), 1500);
    assert_eq!(stored, rows);

    // and the same batch again updates every row in place
    let updated: Vec<_> = rows
        .into_iter()
        .map(|mut s| {
            s.status = "succeeded".into();
            s
        })
        .collect();
    let txn = store.begin().await?;
    upsert_steps(&txn, &updated).await?;
    txn.commit().await?;
    let stored = store.mission_steps(m.id).await?;
    assert!(stored.iter().all(|s| s.status == "succeeded"));
    assert_eq!(stored.len(), 1500);
    Ok(())
}

async fn steps_of_several_missions_load_in_one_call(store: &Store) -> anyhow::Result<()> {
    let def = stored_definition(store, "revive", 1).await;
    let a = mission(&def, "running", at(0));
    let b = mission(&def, "running", at(1));
    let c = mission(&def, "running", at(2));
    for m in [&a, &b, &c] {
        insert_mission(store.conn(), m.clone()).await?;
    }
    upsert_steps(
        store.conn(),
        &[
            step(a.id, "score", "pending"),
            step(b.id, "score", "pending"),
            step(b.id, "enrich", "pending"),
            step(c.id, "score", "pending"),
        ],
    )
    .await?;
    let loaded = load_steps(store.conn(), &[b.id, a.id]).await?;
    let keys: Vec<_> = loaded
        .iter()
        .map(|s| (s.mission_id, s.step_id.as_str()))
        .collect();
    let mut expected = vec![(a.id, "score"), (b.id, "enrich"), (b.id, "score")];
    expected.sort();
    assert_eq!(keys, expected);
    assert!(load_steps(store.conn(), &[]).await?.is_empty());
    Ok(())
}
