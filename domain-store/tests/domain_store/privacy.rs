//! GDPR access and erasure of a lead: everything exported, every personal field
//! erased in one go, the addresses kept as hashes on the suppression ledger.

use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::{
    Intent, NewDeliveryEvent, NewDryRun, NewSuppression, Receipt, ReceiptStatus, address_hash,
    erase_lead, export_lead, import_leads, is_suppressed, lead_suppressions, record_delivery_event,
    record_dry_run, record_intent, record_receipt, suppress, suppressed_leads,
};
use rex_store::testing::TestDb;
use uuid::Uuid;

use crate::fixtures::{World, at, lead_row, t0};

const PERSONAL: [&str; 6] = [
    "ana@acme.example",
    "+4930123456",
    "Ana",
    "Lovelace",
    "Head of Analytics",
    "likes sailing",
];

/// World's lead, re-imported with names, a title and a custom field, messaged once
/// (a receipt, a dry-run entry, a delivery event) and unsubscribed.
async fn populated(db: &TestDb) -> anyhow::Result<World> {
    let c = db.store().conn();
    let w = World::new(db.store(), "acme").await?;
    let mut row = lead_row("L1", "ana@acme.example");
    row.first_name = Some("Ana".into());
    row.last_name = Some("Lovelace".into());
    row.title = Some("Head of Analytics".into());
    row.attributes = serde_json::json!({"note": "likes sailing"});
    let report = import_leads(c, w.tenant, &[row], at(1)).await?;
    anyhow::ensure!(report.updated == 1, "{report:?}");
    let Intent::New(message) = record_intent(c, &w.intent("touch-1")).await? else {
        anyhow::bail!("intent existed")
    };
    record_dry_run(
        c,
        w.tenant,
        &NewDryRun {
            message_id: Some(message),
            provider: "sendgrid".into(),
            operation: "send_email".into(),
            recipient: "ana@acme.example".into(),
            headers: vec![("to".into(), "Ana Lovelace <ana@acme.example>".into())],
            rendered: "Hi Ana, …".into(),
            at: at(2),
        },
    )
    .await?;
    record_receipt(
        c,
        w.tenant,
        message,
        &Receipt {
            provider_message_id: Some("sg-1".into()),
            status: ReceiptStatus::Rejected,
            detail: Some("ana@acme.example: mailbox full".into()),
            at: at(3),
        },
    )
    .await?;
    record_delivery_event(
        c,
        &NewDeliveryEvent {
            tenant_id: w.tenant,
            provider: "sendgrid".into(),
            provider_event_id: "ev-1".into(),
            message_id: Some(message),
            provider_message_id: Some("sg-1".into()),
            kind: "bounce".into(),
            address_hash: Some(address_hash("ana@acme.example")),
            payload: serde_json::json!({"email": "ana@acme.example"}),
            occurred_at: at(4),
            received_at: at(4),
        },
    )
    .await?;
    suppress(
        c,
        &NewSuppression {
            tenant_id: w.tenant,
            channel: Channel::Email,
            address: "ana@acme.example".into(),
            reason: SuppressionReason::Unsubscribe,
            source_event: "ev-2".into(),
            at: at(5),
        },
    )
    .await?;
    Ok(w)
}

async fn an_export_holds_everything_on_the_lead(db: &TestDb) -> anyhow::Result<()> {
    let c = db.store().conn();
    let w = populated(db).await?;
    let export = export_lead(c, w.tenant, w.lead).await?.expect("the lead");
    assert_eq!(export.history.len(), 2, "imported, then updated");
    assert_eq!(export.messages.len(), 1);
    assert_eq!(export.delivery_events.len(), 1);
    assert_eq!(export.suppressions.len(), 1);
    assert_eq!(export.dry_run.len(), 1);
    let text = serde_json::to_string(&export)?;
    for field in PERSONAL {
        assert!(text.contains(field), "{field} missing from {text}");
    }
    // another tenant's lead is not found
    let other = World::new(db.store(), "globex").await?;
    assert!(export_lead(c, other.tenant, w.lead).await?.is_none());
    assert!(export_lead(c, w.tenant, Uuid::now_v7()).await?.is_none());
    Ok(())
}

async fn an_erasure_leaves_only_hashes_and_suppresses(db: &TestDb) -> anyhow::Result<()> {
    let c = db.store().conn();
    let w = populated(db).await?;
    let other = World::new(db.store(), "globex").await?;
    assert!(erase_lead(c, other.tenant, w.lead, at(10)).await?.is_none());

    let txn = db.store().begin().await?;
    let report = erase_lead(&txn, w.tenant, w.lead, at(10)).await?.unwrap();
    txn.commit().await?;
    assert!(report.newly_erased);
    assert_eq!(report.erased_at, Some(at(10)));
    assert_eq!(report.suppressions_added, 2, "email and phone");
    assert_eq!(report.history_entries, 2);
    assert_eq!(report.messages, 1);
    assert_eq!(report.delivery_events, 1);
    assert_eq!(report.dry_run_entries, 1);

    let export = export_lead(c, w.tenant, w.lead).await?.unwrap();
    let text = serde_json::to_string(&export)?;
    for field in PERSONAL {
        assert!(!text.contains(field), "{field} still in {text}");
    }
    assert!(!text.contains("ana@"), "{text}");
    assert_eq!(export.lead.erased_at, Some(at(10)));
    assert_eq!(export.dry_run.len(), 1, "still linked by message");
    assert!(export.suppressions.iter().all(|s| s.address.is_none()));
    assert_eq!(export.suppressions.len(), 3, "unsubscribe + erasure ×2");

    // the send path's check, by hash, refuses the address on both channels for good
    for (channel, address) in [
        (Channel::Email, "ANA@acme.example"),
        (Channel::Sms, "+49 30 123456"),
    ] {
        let hit = is_suppressed(c, w.tenant, channel, address, at(1_000_000)).await?;
        assert!(hit.is_some(), "{address} is not suppressed");
    }
    // the sweep that ends suppressed leads' missions still finds the lead
    assert!(
        suppressed_leads(c, w.tenant, None, at(11))
            .await?
            .iter()
            .any(|s| s.lead_id == w.lead)
    );
    assert!(
        !lead_suppressions(c, w.tenant, w.lead, at(11))
            .await?
            .is_empty()
    );
    // another tenant's ledger is untouched
    assert!(
        is_suppressed(c, other.tenant, Channel::Email, "ana@acme.example", at(11))
            .await?
            .is_none()
    );

    // idempotent
    let again = erase_lead(c, w.tenant, w.lead, at(20)).await?.unwrap();
    assert!(!again.newly_erased);
    assert_eq!(again.erased_at, Some(at(10)));
    assert_eq!(
        (
            again.suppressions_added,
            again.history_entries,
            again.messages
        ),
        (0, 0, 0)
    );
    assert_eq!((again.delivery_events, again.dry_run_entries), (0, 0));

    // a re-import of the erased lead is refused
    let report = import_leads(c, w.tenant, &[lead_row("L1", "ana@acme.example")], at(30)).await?;
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].field, "external_id");
    let text = serde_json::to_string(&export_lead(c, w.tenant, w.lead).await?.unwrap())?;
    assert!(!text.contains("ana@acme.example"));
    let _ = t0();
    Ok(())
}

on_both_backends!(
    an_export_holds_everything_on_the_lead,
    an_erasure_leaves_only_hashes_and_suppresses,
);
