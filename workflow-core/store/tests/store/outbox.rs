use std::collections::BTreeMap;

use rex_store::{NewOutbox, Store, claim_outbox, delete_outbox, insert_outbox, now};
use uuid::Uuid;

use crate::fixtures::stored_mission;

on_both_backends!(
    outbox_rows_are_inserted_claimed_in_order_and_deleted,
    only_rows_older_than_the_cutoff_are_claimed,
    large_outbox_batches_return_every_id_in_order,
);

fn message(mission_id: Uuid, n: usize) -> NewOutbox {
    NewOutbox {
        mission_id,
        destination: if n.is_multiple_of(2) {
            "scraper"
        } else {
            "results"
        }
        .to_owned(),
        message_id: format!("{mission_id}:enrich:{n}"),
        headers: BTreeMap::from([
            (
                "traceparent".to_owned(),
                format!("00-{:032x}-{:016x}-01", n + 1, n + 1),
            ),
            ("rex-attempt".to_owned(), "1".to_owned()),
        ]),
        body: format!(r#"{{"n":{n}}}"#),
    }
}

async fn outbox_rows_are_inserted_claimed_in_order_and_deleted(
    store: &Store,
) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let txn = store.begin().await?;
    let ids = insert_outbox(&txn, (0..3).map(|n| message(m.id, n)).collect()).await?;
    txn.commit().await?;
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(store.count_outbox().await?, 3);
    assert!(store.oldest_outbox().await?.is_some());

    let later = now() + chrono::Duration::seconds(1);
    let txn = store.begin().await?;
    let claimed = claim_outbox(&txn, later, 2).await?;
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), ids[..2]);
    assert_eq!(claimed[0].message_id, message(m.id, 0).message_id);
    assert_eq!(claimed[1].destination, "results");
    assert_eq!(claimed[0].headers_map(), message(m.id, 0).headers);
    assert_eq!(claimed[0].body, r#"{"n":0}"#);
    assert_eq!(delete_outbox(&txn, &ids[..2]).await?, 2);
    txn.commit().await?;

    assert_eq!(store.count_outbox().await?, 1);
    let rest = claim_outbox(store.conn(), later, 10).await?;
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), ids[2..]);
    assert_eq!(delete_outbox(store.conn(), &ids).await?, 1);
    assert_eq!(store.count_outbox().await?, 0);
    assert_eq!(store.oldest_outbox().await?, None);
    Ok(())
}

async fn only_rows_older_than_the_cutoff_are_claimed(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let before = now() - chrono::Duration::seconds(1);
    insert_outbox(store.conn(), vec![message(m.id, 0)]).await?;
    assert!(claim_outbox(store.conn(), before, 10).await?.is_empty());
    let after = now() + chrono::Duration::seconds(1);
    assert_eq!(claim_outbox(store.conn(), after, 10).await?.len(), 1);
    Ok(())
}

async fn large_outbox_batches_return_every_id_in_order(store: &Store) -> anyhow::Result<()> {
    let m = stored_mission(store).await;
    let rows: Vec<_> = (0..1200).map(|n| message(m.id, n)).collect();
    let ids = insert_outbox(store.conn(), rows).await?;
    assert_eq!(ids.len(), 1200);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    let later = now() + chrono::Duration::seconds(1);
    let claimed = claim_outbox(store.conn(), later, 2000).await?;
    for (row, id) in claimed.iter().zip(&ids).step_by(97) {
        assert_eq!(row.id, *id);
        let n: usize = row.message_id.rsplit(':').next().unwrap().parse()?;
        assert_eq!(
            row.id - ids[0],
            n as i64,
            "ids follow the order of the rows given"
        );
    }
    assert_eq!(delete_outbox(store.conn(), &ids).await?, 1200);
    Ok(())
}
