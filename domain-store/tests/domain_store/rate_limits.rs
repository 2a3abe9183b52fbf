use std::sync::Arc;

use chrono::NaiveDate;
use rex_domain::Channel;
use rex_domain_store::{
    mailbox_sent_on, release_channel_slot, release_mailbox_slot, take_channel_slot,
    take_mailbox_slot,
};
use rex_store::Store;
use rex_store::testing::TestDb;
use tokio::sync::Barrier;

use crate::fixtures::{World, at};

on_both_backends!(
    the_mailbox_cap_holds_across_eight_connections,
    a_released_slot_can_be_taken_again,
    the_channel_budget_is_per_tenant_channel_and_hour,
    another_tenant_cannot_take_a_mailboxs_slots,
);

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date")
}

/// Eight "processes" (a pool of one connection each) make 100 attempts at a cap of 20.
async fn the_mailbox_cap_holds_across_eight_connections(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db, "acme").await?;
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = db.url().to_owned();
        let barrier = barrier.clone();
        let (tenant, mailbox) = (w.tenant, w.mailbox);
        let attempts = if worker < 4 { 13 } else { 12 }; // 100 in all
        tasks.push(tokio::spawn(async move {
            let store = Store::connect(&url, 1).await?;
            barrier.wait().await;
            let mut taken = 0;
            for _ in 0..attempts {
                if take_mailbox_slot(store.conn(), tenant, mailbox, day(), 20).await? {
                    taken += 1;
                }
            }
            store.close().await?;
            anyhow::Ok(taken)
        }));
    }
    let mut taken = 0;
    for task in tasks {
        taken += task.await??;
    }
    assert_eq!(taken, 20);
    assert_eq!(
        mailbox_sent_on(db.conn(), w.tenant, w.mailbox, day()).await?,
        20
    );
    Ok(())
}

async fn a_released_slot_can_be_taken_again(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    assert!(!take_mailbox_slot(c, w.tenant, w.mailbox, day(), 0).await?);
    assert!(!release_mailbox_slot(c, w.tenant, w.mailbox, day()).await?);
    assert!(take_mailbox_slot(c, w.tenant, w.mailbox, day(), 2).await?);
    assert!(take_mailbox_slot(c, w.tenant, w.mailbox, day(), 2).await?);
    assert!(!take_mailbox_slot(c, w.tenant, w.mailbox, day(), 2).await?);
    assert!(release_mailbox_slot(c, w.tenant, w.mailbox, day()).await?);
    assert!(take_mailbox_slot(c, w.tenant, w.mailbox, day(), 2).await?);
    // another day is another budget
    let next = day().succ_opt().expect("a next day");
    assert!(take_mailbox_slot(c, w.tenant, w.mailbox, next, 2).await?);
    assert_eq!(mailbox_sent_on(c, w.tenant, w.mailbox, day()).await?, 2);
    assert_eq!(mailbox_sent_on(c, w.tenant, w.mailbox, next).await?, 1);
    Ok(())
}

async fn the_channel_budget_is_per_tenant_channel_and_hour(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let a = World::new(db, "acme").await?;
    let b = World::new(db, "beta").await?;
    // 09:00:00.123 and 09:59:00 fall in the same hour
    assert!(take_channel_slot(c, a.tenant, Channel::Sms, at(0), 2).await?);
    assert!(take_channel_slot(c, a.tenant, Channel::Sms, at(3_400), 2).await?);
    assert!(!take_channel_slot(c, a.tenant, Channel::Sms, at(60), 2).await?);
    // the next hour, another channel, another tenant: budgets of their own
    assert!(take_channel_slot(c, a.tenant, Channel::Sms, at(3_600), 2).await?);
    assert!(take_channel_slot(c, a.tenant, Channel::Email, at(60), 2).await?);
    assert!(take_channel_slot(c, b.tenant, Channel::Sms, at(60), 2).await?);
    assert!(release_channel_slot(c, a.tenant, Channel::Sms, at(120)).await?);
    assert!(take_channel_slot(c, a.tenant, Channel::Sms, at(60), 2).await?);
    Ok(())
}

async fn another_tenant_cannot_take_a_mailboxs_slots(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let a = World::new(db, "acme").await?;
    let b = World::new(db, "beta").await?;
    // no usage row yet: the foreign key refuses the insert
    let err = take_mailbox_slot(c, b.tenant, a.mailbox, day(), 5)
        .await
        .unwrap_err();
    assert!(err.is_foreign_key_violation(), "{err}");
    // a usage row of A: the update's WHERE refuses
    assert!(take_mailbox_slot(c, a.tenant, a.mailbox, day(), 5).await?);
    assert!(!take_mailbox_slot(c, b.tenant, a.mailbox, day(), 5).await?);
    assert!(!release_mailbox_slot(c, b.tenant, a.mailbox, day()).await?);
    assert_eq!(mailbox_sent_on(c, a.tenant, a.mailbox, day()).await?, 1);
    Ok(())
}
