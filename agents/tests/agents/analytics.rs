//! `analytics.report` on a synthetic campaign with a known winner.

use rex_agents::analytics::Analytics;
use rex_workers::Agent;
use serde_json::{Value, json};

use crate::common::ctx;

fn message(events: &mut Vec<Value>, id: String, variant: &str, positive: bool) {
    let at = |m: u32| format!("2026-11-20T10:{m:02}:00Z");
    let base = |kind: Value, m| json!({"message_id": id, "variant": variant, "at": at(m), "kind": kind, "framework": "pas", "send_hour": 10});
    events.push(base(json!({"type": "sent"}), 0));
    events.push(base(json!({"type": "delivered"}), 1));
    if positive {
        events.push(base(json!({"type": "reply", "positive": true}), 30));
    }
}

#[tokio::test]
async fn a_clear_winner_is_named_and_promoted() {
    let mut events = Vec::new();
    for i in 0..200 {
        message(&mut events, format!("a-{i}"), "a", i < 4);
        message(&mut events, format!("b-{i}"), "b", i < 30);
    }
    let out = Analytics::new()
        .run(
            &ctx("report"),
            json!({"campaign_id": "camp-1", "events": events,
                   "excluded": [{"id": "l1", "reason": "suppressed"}, {"id": "l2", "reason": "suppressed"}],
                   "deliverability": {"can_send": true, "domains": [{"domain": "mail2.rex.example", "tier": "warning"}]}}),
        )
        .await
        .unwrap();
    assert_eq!(out["metrics"]["sent"], 400);
    assert_eq!(out["metrics"]["delivered"], 400);
    assert_eq!(out["metrics"]["positive_replies"], 34);
    assert_eq!(out["experiment"]["verdict"], "winner");
    assert_eq!(out["experiment"]["variant"], "b");
    assert_eq!(out["by_variant"]["b"]["metrics"]["positive_replies"], 30);
    assert_eq!(out["trends"].as_array().unwrap().len(), 1);
    let recs = out["recommendations"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "promote_variant" && r["target"] == "b"),
        "{recs:?}"
    );
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "throttle_domain" && r["target"] == "mail2.rex.example")
    );
    assert_eq!(out["funnel"]["excluded_by_reason"]["suppressed"], 2);
    assert!((out["rates"]["positive_reply"].as_f64().unwrap() - 0.085).abs() < 1e-9);
}

#[tokio::test]
async fn no_events_is_an_empty_report_and_a_bad_event_names_its_index() {
    let out = Analytics::new()
        .run(&ctx("report"), json!({"campaign_id": "c"}))
        .await
        .unwrap();
    assert_eq!(out["events"]["count"], 0);
    assert_eq!(out["metrics"]["sent"], 0);
    assert_eq!(out["experiment"]["verdict"], "no_winner");
    let err = Analytics::new()
        .run(
            &ctx("report"),
            json!({"events": [{"message_id": "m", "at": "yesterday", "kind": {"type": "sent"}}]}),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("input.events[0]:"),
        "{}",
        err.message
    );
}

/// `analytics.report` reading the campaign's events from the domain store.
mod on_the_store {
    use chrono::Duration;
    use rex_agents::analytics::Analytics;
    use rex_domain::Channel;
    use rex_domain_store::{
        LeadRow, NewDeliveryEvent, NewIntent, Receipt, ReceiptStatus, create_campaign,
        create_tenant, import_leads, lead_by_external_id, record_delivery_event, record_intent,
        record_receipt,
    };
    use rex_store::Store;
    use rex_workers::Agent;
    use serde_json::{Value, json};
    use uuid::Uuid;

    use crate::common::ctx;
    use crate::store_world::{TENANT, World, t0};

    on_both_backends!(
        a_campaign_without_inline_events_is_reported_from_the_store,
        inline_events_win_over_the_store,
    );

    /// Ten messages of `campaign`, `receipted` of them sent; every sent one delivered
    /// but for one bounce, two replies (one positive), one open.
    async fn campaign(store: &Store, tenant: Uuid, name: &str) -> anyhow::Result<()> {
        let c = store.conn();
        let at = t0() - Duration::days(1);
        import_leads(
            c,
            tenant,
            &[LeadRow {
                external_id: format!("lead-{name}"),
                email: Some(format!("{name}@acme.example")),
                source: "crm".into(),
                stage: "demo".into(),
                ..Default::default()
            }],
            at,
        )
        .await?;
        let lead = lead_by_external_id(c, tenant, &format!("lead-{name}"))
            .await?
            .expect("lead")
            .id;
        let campaign = create_campaign(c, tenant, name, json!({}), at).await?.id;
        let event = |message: Uuid, n: usize, kind: &str, payload: Value| NewDeliveryEvent {
            tenant_id: tenant,
            provider: "sendgrid".into(),
            provider_event_id: format!("{name}-{n}-{kind}"),
            message_id: Some(message),
            provider_message_id: None,
            kind: kind.into(),
            address_hash: None,
            payload,
            occurred_at: at + Duration::minutes(5),
            received_at: at + Duration::minutes(6),
        };
        for n in 0..10 {
            let intent = NewIntent {
                tenant_id: tenant,
                lead_id: lead,
                campaign_id: campaign,
                step_key: format!("step-{n}"),
                channel: Channel::Email,
                mailbox_id: None,
                variant_id: None,
                body_hash: "h".into(),
                at,
            };
            let rex_domain_store::Intent::New(id) = record_intent(c, &intent).await? else {
                anyhow::bail!("intent {n} existed");
            };
            if n == 9 {
                continue; // an intent without a receipt was never sent
            }
            let receipt = Receipt {
                provider_message_id: Some(format!("sg-{name}-{n}")),
                status: ReceiptStatus::Sent,
                detail: None,
                at,
            };
            record_receipt(c, tenant, id, &receipt).await?;
            let recorded = match n {
                0 => vec![event(id, n, "bounce", json!({}))],
                1 => vec![
                    event(id, n, "delivered", json!({})),
                    event(id, n, "reply", json!({"positive": true})),
                ],
                2 => vec![
                    event(id, n, "delivered", json!({})),
                    event(id, n, "open", json!({"useragent": "Thunderbird"})),
                    event(id, n, "reply", json!({})),
                ],
                _ => vec![event(id, n, "delivered", json!({}))],
            };
            for e in recorded {
                assert!(record_delivery_event(c, &e).await?);
            }
        }
        Ok(())
    }

    async fn a_campaign_without_inline_events_is_reported_from_the_store(
        store: &Store,
    ) -> anyhow::Result<()> {
        let w = World::new(store).await?;
        campaign(store, w.tenant, "camp-1").await?;
        // the same campaign name elsewhere, and another campaign of the tenant: not counted
        let other = create_tenant(store.conn(), "globex", "Globex", t0())
            .await?
            .id;
        campaign(store, other, "camp-1").await?;
        campaign(store, w.tenant, "camp-2").await?;

        let agent = Analytics::new().with_store(store.clone(), TENANT);
        let out = agent
            .run(&ctx("report"), json!({"campaign_id": "camp-1"}))
            .await?;
        assert_eq!(out["events"]["source"], "domain_store");
        let m = &out["metrics"];
        assert_eq!(
            (
                m["sent"].clone(),
                m["delivered"].clone(),
                m["bounces"].clone(),
                m["replies"].clone(),
                m["positive_replies"].clone(),
            ),
            (json!(9), json!(8), json!(1), json!(2), json!(1)),
            "{m}"
        );
        assert_eq!(out["events"]["count"], 9 + 8 + 1 + 2 + 1);

        let unknown = agent
            .run(
                &ctx("report"),
                json!({"campaign_id": "nope", "tenant": "nobody"}),
            )
            .await?;
        assert_eq!(unknown["events"]["count"], 0);
        Ok(())
    }

    async fn inline_events_win_over_the_store(store: &Store) -> anyhow::Result<()> {
        let w = World::new(store).await?;
        campaign(store, w.tenant, "camp-1").await?;
        let out = Analytics::new()
            .with_store(store.clone(), TENANT)
            .run(
                &ctx("report"),
                json!({"campaign_id": "camp-1", "events": [
                    {"message_id": "m", "variant": null, "at": "2026-11-20T10:00:00Z", "kind": {"type": "sent"}}
                ]}),
            )
            .await?;
        assert_eq!(out["events"]["source"], "input");
        assert_eq!(out["metrics"]["sent"], 1);
        Ok(())
    }
}
