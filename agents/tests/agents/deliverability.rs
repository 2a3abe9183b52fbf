//! `deliverability` on a real database: health from sent messages and their delivery
//! events, pauses, the campaign gate, warmup caps and rotation.

use chrono::Duration;
use rex_domain::Channel;
use rex_domain_store::{
    LeadRow, NewDeliveryEvent, NewIntent, Receipt, ReceiptStatus, create_campaign, import_leads,
    lead_by_external_id, record_delivery_event, record_intent, record_receipt,
};
use rex_store::testing::TestDb;
use rex_workers::Agent;
use serde_json::json;
use uuid::Uuid;

use crate::store_world::{TENANT, World, t0, task};

on_both_backends!(
    two_percent_bounces_pause_the_mailbox_and_close_the_gate,
    warmup_caps_follow_the_mailbox_age,
    rotation_puts_the_best_mailbox_first_and_lists_thin_domains,
);

/// `sent` messages from `mailbox` yesterday, the first `bounced` of them bounced.
async fn history(
    db: &TestDb,
    w: &World,
    mailbox: Uuid,
    sent: usize,
    bounced: usize,
) -> anyhow::Result<()> {
    let c = db.conn();
    let at = t0() - Duration::days(1);
    import_leads(
        c,
        w.tenant,
        &[LeadRow {
            external_id: "lead-h".into(),
            email: Some("h@acme.example".into()),
            source: "crm".into(),
            stage: "demo".into(),
            ..Default::default()
        }],
        at,
    )
    .await?;
    let lead = lead_by_external_id(c, w.tenant, "lead-h")
        .await?
        .unwrap()
        .id;
    let campaign = match rex_domain_store::campaign_by_name(c, w.tenant, "history").await? {
        Some(campaign) => campaign.id,
        None => {
            create_campaign(c, w.tenant, "history", json!({}), at)
                .await?
                .id
        }
    };
    for n in 0..sent {
        let intent = NewIntent {
            tenant_id: w.tenant,
            lead_id: lead,
            campaign_id: campaign,
            step_key: format!("{mailbox}:{n}"),
            channel: Channel::Email,
            mailbox_id: Some(mailbox),
            variant_id: None,
            body_hash: "h".into(),
            at,
        };
        let rex_domain_store::Intent::New(id) = record_intent(c, &intent).await? else {
            anyhow::bail!("intent {n} existed");
        };
        let receipt = Receipt {
            provider_message_id: Some(format!("sg-{n}")),
            status: ReceiptStatus::Sent,
            detail: None,
            at,
        };
        record_receipt(c, w.tenant, id, &receipt).await?;
        if n < bounced {
            record_delivery_event(
                c,
                &NewDeliveryEvent {
                    tenant_id: w.tenant,
                    provider: "sendgrid".into(),
                    provider_event_id: format!("ev-{mailbox}-{n}"),
                    message_id: Some(id),
                    provider_message_id: Some(format!("sg-{n}")),
                    kind: "bounce".into(),
                    address_hash: None,
                    payload: json!({}),
                    occurred_at: at,
                    received_at: at,
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn two_percent_bounces_pause_the_mailbox_and_close_the_gate(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let ana = w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let agent = w.deliverability(db);
    let gate = json!({"tenant": TENANT, "campaign_id": "camp-1"});
    let open = agent
        .run(&task("check", "m", "gate", 1), gate.clone())
        .await?;
    assert_eq!(open["can_send"], true, "{open}");
    assert_eq!(open["capacity_today"], 40);
    // 2 hard bounces over max(50 sent, 100) = 2%: past Instantly's 1.8%
    history(db, &w, ana, 50, 2).await?;
    let health = agent
        .run(
            &task("recompute_health", "m", "health", 1),
            json!({"tenant": TENANT, "domains": []}),
        )
        .await?;
    assert_eq!(
        health["paused"],
        json!(["ana@mail.rex.example"]),
        "{health}"
    );
    assert_eq!(health["mailboxes"][0]["tier"], "paused");
    assert_eq!(health["mailboxes"][0]["bounce_rate"], 0.02);
    let closed = agent.run(&task("check", "m", "gate", 2), gate).await?;
    assert_eq!(closed["can_send"], false, "{closed}");
    assert_eq!(closed["capacity_today"], 0);
    assert_eq!(closed["mailboxes"][0]["paused"], true);
    Ok(())
}

async fn warmup_caps_follow_the_mailbox_age(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    for (address, age) in [
        ("a@mail.rex.example", 3),
        ("b@mail.rex.example", 10),
        ("c@mail.rex.example", 100),
    ] {
        w.mailbox(db, address, age, 40).await?;
    }
    let agent = w.deliverability(db);
    let out = agent
        .run(
            &task("advance_warmup", "m", "warmup", 1),
            json!({"tenant": TENANT}),
        )
        .await?;
    let caps: Vec<_> = out["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["cap_today"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        caps,
        vec![
            ("a@mail.rex.example".to_owned(), 5),
            ("b@mail.rex.example".to_owned(), 10),
            ("c@mail.rex.example".to_owned(), 40)
        ]
    );
    // given records get their cap added, everything else kept
    let given =
        json!({"tenant": TENANT, "mailboxes": [{"id": "b@mail.rex.example", "tier": "good"}]});
    let out = agent
        .run(&task("advance_warmup", "m", "warmup", 2), given)
        .await?;
    assert_eq!(
        out["mailboxes"],
        json!([{"id": "b@mail.rex.example", "tier": "good", "cap_today": 10}])
    );
    // the written cap is what the gate counts
    let gate = agent
        .run(&task("check", "m", "gate", 1), json!({"tenant": TENANT}))
        .await?;
    assert_eq!(gate["capacity_today"], 55, "{gate}");
    Ok(())
}

async fn rotation_puts_the_best_mailbox_first_and_lists_thin_domains(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let young = w.mailbox(db, "young@mail.rex.example", 3, 40).await?;
    w.mailbox(db, "old@mail.rex.example", 100, 40).await?;
    let _ = young;
    let agent = w.deliverability(db);
    let out = agent
        .run(&task("rotate", "m", "rotate", 1), json!({"tenant": TENANT}))
        .await?;
    assert_eq!(
        out["order"],
        json!(["old@mail.rex.example", "young@mail.rex.example"]),
        "{out}"
    );
    assert_eq!(
        out["domains_short_of_mailboxes"],
        json!(["mail.rex.example"])
    );
    Ok(())
}
