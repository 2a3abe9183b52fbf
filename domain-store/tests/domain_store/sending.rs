use chrono::NaiveDate;
use rex_domain::deliverability::{HealthTier, SendStats};
use rex_domain_store::{
    MailboxHealth, list_mailboxes, set_domain_paused, set_mailbox_paused, take_mailbox_slot,
    update_domain_health, update_mailbox_health,
};
use rex_store::testing::TestDb;

use crate::fixtures::{World, at, t0};

on_both_backends!(
    mailboxes_are_listed_with_health_and_todays_usage,
    pausing_a_domain_pauses_its_mailboxes,
);

async fn mailboxes_are_listed_with_health_and_todays_usage(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let other = World::new(db, "beta").await?;
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
    for _ in 0..3 {
        take_mailbox_slot(c, w.tenant, w.mailbox, day, 40).await?;
    }
    let health = MailboxHealth {
        tier: HealthTier::Warning,
        stats: SendStats {
            sent: 1000,
            hard_bounces: 15,
            complaints: 1,
        },
    };
    update_mailbox_health(c, w.tenant, w.mailbox, &health, at(5)).await?;
    // not another tenant's mailbox
    let err = update_mailbox_health(c, other.tenant, w.mailbox, &health, at(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");

    let listed = list_mailboxes(c, w.tenant, day).await?;
    assert_eq!(listed.len(), 1);
    let m = &listed[0];
    assert_eq!(m.sent_today, 3);
    assert_eq!(m.tier()?, HealthTier::Warning);
    assert_eq!(m.stats(), health.stats);
    let domain_view = m.to_domain(t0());
    assert_eq!(domain_view.age_days, 20);
    assert_eq!(domain_view.domain, "mail.acme.example");
    assert!(!domain_view.paused);
    Ok(())
}

async fn pausing_a_domain_pauses_its_mailboxes(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let day = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date");
    set_mailbox_paused(
        c,
        w.tenant,
        w.mailbox,
        true,
        Some("bounce rate 2.1%"),
        at(1),
    )
    .await?;
    let m = list_mailboxes(c, w.tenant, day).await?.remove(0);
    assert!(m.mailbox.paused && m.is_paused());
    assert_eq!(m.mailbox.paused_reason.as_deref(), Some("bounce rate 2.1%"));
    set_mailbox_paused(c, w.tenant, w.mailbox, false, None, at(2)).await?;
    assert!(!list_mailboxes(c, w.tenant, day).await?[0].is_paused());

    set_domain_paused(c, w.tenant, w.domain, true, Some("blocklisted"), at(3)).await?;
    update_domain_health(c, w.tenant, w.domain, HealthTier::Blocked, at(3)).await?;
    let m = list_mailboxes(c, w.tenant, day).await?.remove(0);
    assert!(!m.mailbox.paused && m.is_paused());
    assert!(m.to_domain(t0()).paused);
    assert_eq!(m.domain.health_tier, "blocked");
    Ok(())
}
