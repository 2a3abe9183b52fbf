use std::sync::Arc;

use rex_domain_store::{
    Intent, Receipt, ReceiptStatus, create_tenant, get_message, record_intent, record_receipt,
    unreceipted_intents,
};
use rex_store::testing::{TestDb, fresh_postgres};
use tokio::sync::Barrier;

use crate::fixtures::{World, at, t0};

on_both_backends!(
    a_second_intent_for_the_same_step_finds_the_first,
    the_first_receipt_wins,
    unreceipted_intents_are_listed_for_reconciliation,
    an_intent_cannot_point_at_another_tenants_lead,
);

fn sent(id: &str, seconds: i64) -> Receipt {
    Receipt {
        provider_message_id: Some(id.to_owned()),
        status: ReceiptStatus::Sent,
        detail: None,
        at: at(seconds),
    }
}

async fn a_second_intent_for_the_same_step_finds_the_first(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let Intent::New(id) = record_intent(c, &w.intent("step-1")).await? else {
        anyhow::bail!("the first intent is new");
    };
    // a redelivery before the receipt: reconcile, do not send
    let again = record_intent(c, &w.intent("step-1")).await?;
    assert_eq!(
        again,
        Intent::Existing {
            id,
            body_hash: "b1".into(),
            receipt: None
        }
    );
    record_receipt(c, w.tenant, id, &sent("sg-1", 5)).await?;
    let after = record_intent(c, &w.intent("step-1")).await?;
    assert_eq!(
        after,
        Intent::Existing {
            id,
            body_hash: "b1".into(),
            receipt: Some(sent("sg-1", 5))
        }
    );
    // another step of the same lead is another message
    assert!(matches!(
        record_intent(c, &w.intent("step-2")).await?,
        Intent::New(_)
    ));
    Ok(())
}

async fn the_first_receipt_wins(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let Intent::New(id) = record_intent(c, &w.intent("step-1")).await? else {
        anyhow::bail!("the first intent is new");
    };
    assert_eq!(
        record_receipt(c, w.tenant, id, &sent("sg-1", 5)).await?,
        sent("sg-1", 5)
    );
    assert_eq!(
        record_receipt(c, w.tenant, id, &sent("sg-2", 9)).await?,
        sent("sg-1", 5)
    );
    let stored = get_message(c, w.tenant, id).await?.expect("message");
    assert_eq!(stored.provider_message_id.as_deref(), Some("sg-1"));
    // another tenant cannot receipt (or even see) it
    let other = create_tenant(c, "beta", "Beta", t0()).await?;
    let err = record_receipt(c, other.id, id, &sent("sg-3", 9))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eq!(get_message(c, other.id, id).await?, None);
    Ok(())
}

async fn unreceipted_intents_are_listed_for_reconciliation(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let mut ids = Vec::new();
    for (n, seconds) in [(1, 0), (2, 10), (3, 20)] {
        let mut intent = w.intent(&format!("step-{n}"));
        intent.at = at(seconds);
        let Intent::New(id) = record_intent(c, &intent).await? else {
            anyhow::bail!("new");
        };
        ids.push(id);
    }
    record_receipt(c, w.tenant, ids[0], &sent("sg-1", 1)).await?;
    let open = unreceipted_intents(c, w.tenant, at(15), 100).await?;
    assert_eq!(open.iter().map(|m| m.id).collect::<Vec<_>>(), [ids[1]]);
    let all_open = unreceipted_intents(c, w.tenant, at(60), 100).await?;
    assert_eq!(all_open.len(), 2);
    let other = World::new(db, "beta").await?;
    assert!(
        unreceipted_intents(c, other.tenant, at(60), 100)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn an_intent_cannot_point_at_another_tenants_lead(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let a = World::new(db, "acme").await?;
    let b = World::new(db, "beta").await?;
    let mut intent = a.intent("step-1");
    intent.lead_id = b.lead;
    let err = record_intent(c, &intent).await.unwrap_err();
    assert!(err.is_foreign_key_violation(), "{err}");
    Ok(())
}

/// Eight workers race to send the same step of the same lead: exactly one may.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_intents_for_one_step_yield_exactly_one_new() -> anyhow::Result<()> {
    let db = fresh_postgres().await;
    let w = Arc::new(World::new(&db, "acme").await?);
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(8));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, w, barrier) = ((*db).clone(), w.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                record_intent(store.conn(), &w.intent(&format!("step-{round}"))).await
            }));
        }
        let mut new = Vec::new();
        let mut existing = Vec::new();
        for task in tasks {
            match task.await?? {
                Intent::New(id) => new.push(id),
                Intent::Existing { id, .. } => existing.push(id),
            }
        }
        assert_eq!(new.len(), 1, "round {round}: exactly one New");
        assert_eq!(existing.len(), 7);
        assert!(
            existing.iter().all(|id| *id == new[0]),
            "all name the one message"
        );
    }
    db.cleanup().await;
    Ok(())
}
