use rex_store::{
    Store, claim_due_timers, delete_mission_timers, delete_timers, insert_timers, next_timer_due,
};
use uuid::Uuid;

use crate::fixtures::{at, stored_mission, timer};

on_both_backends!(
    only_due_timers_are_claimed_earliest_first,
    timers_are_deleted_by_id_or_by_mission,
);

async fn only_due_timers_are_claimed_earliest_first(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    assert_eq!(next_timer_due(store.conn()).await?, None);
    let late = timer(m.id, "delay", at(300));
    let due_later = timer(m.id, "retry", at(20));
    let due_first = timer(m.id, "timeout", at(10));
    let exactly_now = timer(m.id, "delay", at(60));
    insert_timers(
        store.conn(),
        vec![late.clone(), due_later.clone(), due_first.clone(), exactly_now.clone()],
    )
    .await?;
    assert_eq!(next_timer_due(store.conn()).await?, Some(at(10)));

    let txn = store.begin().await?;
    let claimed = claim_due_timers(&txn, at(60), 10).await?;
    assert_eq!(claimed, [due_first.clone(), due_later.clone(), exactly_now.clone()]);
    assert_eq!(claim_due_timers(&txn, at(60), 1).await?, [due_first.clone()]);
    assert!(claim_due_timers(&txn, at(5), 10).await?.is_empty());
    assert_eq!(delete_timers(&txn, &[due_first.id, due_later.id]).await?, 2);
    txn.commit().await?;

    assert_eq!(next_timer_due(store.conn()).await?, Some(at(60)));
    assert_eq!(claim_due_timers(store.conn(), at(1000), 10).await?, [exactly_now, late]);
    Ok(())
}

async fn timers_are_deleted_by_id_or_by_mission(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let other_mission = Uuid::now_v7();
    let rows: Vec<_> = (0..300).map(|i| timer(m.id, "delay", at(i))).collect();
    insert_timers(store.conn(), rows.clone()).await?;
    insert_timers(store.conn(), vec![timer(other_mission, "delay", at(5))]).await?;

    assert_eq!(delete_timers(store.conn(), &[rows[0].id, Uuid::now_v7()]).await?, 1);
    assert_eq!(delete_mission_timers(store.conn(), m.id).await?, 299);
    let left = claim_due_timers(store.conn(), at(1000), 1000).await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].mission_id, other_mission);
    Ok(())
}
