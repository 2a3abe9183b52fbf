use rex_store::{
    Store, claim_due_timers, delete_mission_timers, delete_timers, insert_timers, next_timer_due,
};
use uuid::Uuid;

use crate::fixtures::{at, stored_mission, timer};

on_both_backends!(
    only_due_timers_are_claimed_earliest_first,
    timers_are_deleted_by_id_or_by_mission,
    due_times_of_mixed_precision_compare_as_instants,
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
        vec![
            late.clone(),
            due_later.clone(),
            due_first.clone(),
            exactly_now.clone(),
        ],
    )
    .await?;
    assert_eq!(next_timer_due(store.conn()).await?, Some(at(10)));

    let txn = store.begin().await?;
    let claimed = claim_due_timers(&txn, at(60), 10).await?;
    assert_eq!(
        claimed,
        [due_first.clone(), due_later.clone(), exactly_now.clone()]
    );
    assert_eq!(
        claim_due_timers(&txn, at(60), 1).await?,
        std::slice::from_ref(&due_first)
    );
    assert!(claim_due_timers(&txn, at(5), 10).await?.is_empty());
    assert_eq!(delete_timers(&txn, &[due_first.id, due_later.id]).await?, 2);
    txn.commit().await?;

    assert_eq!(next_timer_due(store.conn()).await?, Some(at(60)));
    assert_eq!(
        claim_due_timers(store.conn(), at(1000), 10).await?,
        [exactly_now, late]
    );
    Ok(())
}

async fn timers_are_deleted_by_id_or_by_mission(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let other_mission = Uuid::now_v7();
    let rows: Vec<_> = (0..300).map(|i| timer(m.id, "delay", at(i))).collect();
    insert_timers(store.conn(), rows.clone()).await?;
    insert_timers(store.conn(), vec![timer(other_mission, "delay", at(5))]).await?;

    assert_eq!(
        delete_timers(store.conn(), &[rows[0].id, Uuid::now_v7()]).await?,
        1
    );
    assert_eq!(delete_mission_timers(store.conn(), m.id).await?, 299);
    let left = claim_due_timers(store.conn(), at(1000), 1000).await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].mission_id, other_mission);
    Ok(())
}

/// SQLite keeps timestamps as RFC 3339 text with 0, 3 or 6 fractional digits: the
/// comparisons must still follow time, not string length.
async fn due_times_of_mixed_precision_compare_as_instants(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let base = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let micros = |us: i64| base + chrono::Duration::microseconds(us);
    // 9.999999 s, 10 s, 10.123456 s, 10.5 s, 11 s after base, inserted shuffled
    let offsets = [10_500_000, 9_999_999, 11_000_000, 10_000_000, 10_123_456];
    let rows: Vec<_> = offsets
        .iter()
        .map(|us| timer(m.id, "delay", micros(*us)))
        .collect();
    insert_timers(store.conn(), rows).await?;

    let due: Vec<i64> = claim_due_timers(store.conn(), micros(10_500_000), 10)
        .await?
        .iter()
        .map(|t| (t.due_at - base).num_microseconds().unwrap())
        .collect();
    assert_eq!(due, [9_999_999, 10_000_000, 10_123_456, 10_500_000]);
    assert_eq!(next_timer_due(store.conn()).await?, Some(micros(9_999_999)));
    Ok(())
}
