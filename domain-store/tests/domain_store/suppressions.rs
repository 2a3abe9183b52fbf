use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::entity::suppressions;
use rex_domain_store::{
    NewSuppression, Suppressed, is_suppressed, lead_suppressions, lift_suppression, suppress,
    suppressed_leads,
};
use rex_store::testing::TestDb;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::fixtures::{World, at};

on_both_backends!(
    suppressing_twice_leaves_one_entry,
    a_suppression_holds_only_from_its_time_on,
    a_lifted_suppression_can_be_reinstated,
    suppressed_leads_are_found_by_address_hash,
    suppressions_are_scoped_to_their_tenant,
);

fn unsubscribe(w: &World, address: &str, seconds: i64) -> NewSuppression {
    NewSuppression {
        tenant_id: w.tenant,
        channel: Channel::Email,
        address: address.to_owned(),
        reason: SuppressionReason::Unsubscribe,
        source_event: format!("sg-{seconds}"),
        at: at(seconds),
    }
}

async fn suppressing_twice_leaves_one_entry(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let first = suppress(c, &unsubscribe(&w, "Ana@Acme.Example", 10)).await?;
    assert!(matches!(first, Suppressed::New(_)));
    // the same webhook again, differently cased: one row, unchanged
    let again = suppress(c, &unsubscribe(&w, " ana@acme.example", 20)).await?;
    assert_eq!(again, Suppressed::Existing(first.entry().clone()));
    // an earlier copy moves the start back: the person asked then
    let earlier = suppress(c, &unsubscribe(&w, "ana@acme.example", 5)).await?;
    let Suppressed::Existing(entry) = earlier else {
        anyhow::bail!("expected the existing entry, got {earlier:?}");
    };
    assert_eq!((entry.id, entry.suppressed_at), (first.entry().id, at(5)));
    assert_eq!(entry.source_event, "sg-5");
    // another reason for the same address is an entry of its own
    let mut complaint = unsubscribe(&w, "ana@acme.example", 30);
    complaint.reason = SuppressionReason::Complaint;
    assert!(matches!(suppress(c, &complaint).await?, Suppressed::New(_)));
    assert_eq!(suppressions::Entity::find().count(c).await?, 2);
    Ok(())
}

async fn a_suppression_holds_only_from_its_time_on(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    suppress(c, &unsubscribe(&w, "ana@acme.example", 100)).await?;
    let addr = "ANA@acme.example";
    assert_eq!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(99)).await?,
        None
    );
    let hit = is_suppressed(c, w.tenant, Channel::Email, addr, at(100)).await?;
    let hit = hit.ok_or_else(|| anyhow::anyhow!("suppressed at its own time"))?;
    assert_eq!(hit.reason()?, SuppressionReason::Unsubscribe);
    assert_eq!(hit.to_entry()?.address, "ana@acme.example");
    assert!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(10_000))
            .await?
            .is_some()
    );
    // another channel, another address: not suppressed
    assert_eq!(
        is_suppressed(c, w.tenant, Channel::Sms, addr, at(200)).await?,
        None
    );
    assert_eq!(
        is_suppressed(c, w.tenant, Channel::Email, "bob@acme.example", at(200)).await?,
        None
    );
    Ok(())
}

async fn a_lifted_suppression_can_be_reinstated(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let mut bounce = unsubscribe(&w, "ana@acme.example", 10);
    bounce.reason = SuppressionReason::HardBounce;
    let entry = suppress(c, &bounce).await?.entry().clone();
    assert!(lift_suppression(c, w.tenant, entry.id, at(20)).await?);
    let addr = "ana@acme.example";
    assert!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(15))
            .await?
            .is_some()
    );
    assert_eq!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(25)).await?,
        None
    );
    bounce.at = at(30);
    let again = suppress(c, &bounce).await?;
    assert!(matches!(again, Suppressed::Reinstated(_)), "{again:?}");
    assert!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(31))
            .await?
            .is_some()
    );
    assert_eq!(
        is_suppressed(c, w.tenant, Channel::Email, addr, at(25)).await?,
        None
    );
    Ok(())
}

async fn suppressed_leads_are_found_by_address_hash(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    assert!(
        suppressed_leads(c, w.tenant, None, at(1000))
            .await?
            .is_empty()
    );
    // the lead's email (any case) and its phone (any punctuation)
    suppress(c, &unsubscribe(&w, "ANA@acme.example", 10)).await?;
    suppress(
        c,
        &NewSuppression {
            channel: Channel::Sms,
            address: "+49 30 123456".into(),
            reason: SuppressionReason::SmsStop,
            ..unsubscribe(&w, "", 20)
        },
    )
    .await?;
    // the phone on the email channel matches no lead column
    suppress(
        c,
        &NewSuppression {
            address: "+4930123456".into(),
            ..unsubscribe(&w, "", 30)
        },
    )
    .await?;
    let rows = suppressed_leads(c, w.tenant, None, at(1000)).await?;
    let reasons: Vec<_> = rows
        .iter()
        .map(|r| (r.lead_id, r.suppression.reason.as_str()))
        .collect();
    assert_eq!(reasons, [(w.lead, "unsubscribe"), (w.lead, "sms_stop")]);
    // incremental sweep and point in time
    assert_eq!(
        suppressed_leads(c, w.tenant, Some(at(15)), at(1000))
            .await?
            .len(),
        1
    );
    assert_eq!(suppressed_leads(c, w.tenant, None, at(15)).await?.len(), 1);
    assert_eq!(
        lead_suppressions(c, w.tenant, w.lead, at(1000))
            .await?
            .len(),
        2
    );
    Ok(())
}

async fn suppressions_are_scoped_to_their_tenant(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let a = World::new(db, "acme").await?;
    let b = World::new(db, "beta").await?;
    // both tenants know the same person
    rex_domain_store::import_leads(
        c,
        b.tenant,
        &[crate::fixtures::lead_row("B2", "ana@acme.example")],
        at(0),
    )
    .await?;
    suppress(c, &unsubscribe(&a, "ana@acme.example", 10)).await?;
    let addr = "ana@acme.example";
    assert!(
        is_suppressed(c, a.tenant, Channel::Email, addr, at(20))
            .await?
            .is_some()
    );
    assert_eq!(
        is_suppressed(c, b.tenant, Channel::Email, addr, at(20)).await?,
        None
    );
    assert!(
        suppressed_leads(c, b.tenant, None, at(20))
            .await?
            .is_empty()
    );
    assert_eq!(suppressed_leads(c, a.tenant, None, at(20)).await?.len(), 1);
    Ok(())
}
