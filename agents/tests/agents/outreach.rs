//! `outreach.send` and `outreach.linkedin_task` on a real database: the ledger, the
//! gates, the windows, the shared mailbox cap, and exactly-once sends.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::{
    DryRunFilter, Intent, LeadRow, NewDryRun, NewIntent, NewSuppression, create_campaign,
    get_message, import_leads, is_suppressed, lead_by_external_id, list_dry_run, record_dry_run,
    record_intent, suppress, tenant_by_slug,
};
use rex_store::Store;
use rex_store::testing::TestDb;
use rex_workers::Agent;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::store_world::{
    Providers, SENDGRID_KEY, TENANT, World, lead, send_input, sendgrid_refusing_the_recipient, t0,
    task, twilio_refusing, unsubscribe_url,
};

on_both_backends!(
    a_suppressed_address_is_never_sent,
    a_suppression_blocks_from_its_time_on,
    a_text_at_half_past_nine_waits_for_eight_next_morning,
    the_same_task_twice_sends_once,
    an_intent_without_receipt_is_never_sent_again,
    the_mailbox_cap_holds_across_four_concurrent_workers,
    the_consent_gate_refuses_email_to_a_german_lead_without_consent,
    an_invalid_address_is_suppressed_as_a_hard_bounce,
    an_opted_out_number_is_suppressed,
    the_first_email_to_an_eu_lead_carries_the_notice_and_the_footer,
    a_linkedin_task_is_the_same_on_a_retry,
    a_provider_outage_is_retried_and_then_sends_once,
    the_store_agents_are_registered_only_with_a_store,
);

/// A SendGrid that accepts (202 + X-Message-Id), expecting `times` sends.
async fn sendgrid(times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header(
            "authorization",
            format!("Bearer {SENDGRID_KEY}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sg-0001"))
        .expect(times)
        .mount(&server)
        .await;
    server
}

async fn ledger(store: &Store, address: &str, reason: SuppressionReason, at: DateTime<Utc>) {
    let tenant = tenant_by_slug(store.conn(), TENANT)
        .await
        .unwrap()
        .unwrap()
        .id;
    suppress(
        store.conn(),
        &NewSuppression {
            tenant_id: tenant,
            channel: Channel::Email,
            address: address.into(),
            reason,
            source_event: "test".into(),
            at,
        },
    )
    .await
    .unwrap();
}

async fn a_suppressed_address_is_never_sent(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = sendgrid(0).await;
    let agent = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    ledger(
        db,
        "Lead-1@ACME.example",
        SuppressionReason::Unsubscribe,
        t0() - Duration::days(3),
    )
    .await;
    let out = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "suppressed", "{out}");
    assert_eq!(out["reason"], "unsubscribe");
    server.verify().await;
    Ok(())
}

async fn a_suppression_blocks_from_its_time_on(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let agent = w.outreach(db, &Providers::default());
    ledger(
        db,
        "lead-1@acme.example",
        SuppressionReason::Complaint,
        t0() + Duration::hours(1),
    )
    .await;
    let before = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(before["status"], "sent", "{before}");
    w.clock.advance(Duration::hours(2));
    let after = agent
        .run(
            &task("send", "m1", "s2", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(after["status"], "suppressed", "{after}");
    assert_eq!(after["reason"], "complaint");
    assert_eq!(w.log.len(), 1, "one email recorded by the dry run");
    Ok(())
}

async fn a_text_at_half_past_nine_waits_for_eight_next_morning(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let agent = w.outreach(db, &Providers::default());
    // Saturday 2026-03-07 21:30 EST; New York moves to EDT at 02:00 that night, so
    // 08:00 on Sunday is 12:00Z, not 13:00Z
    w.clock
        .advance(DateTime::parse_from_rfc3339("2026-03-08T02:30:00Z")?.with_timezone(&Utc) - t0());
    let deferral = agent
        .run(
            &task("send", "m1", "s4", 1),
            send_input(lead("lead-1"), "sms"),
        )
        .await
        .expect_err("a text at 21:30 is deferred, not sent");
    // a deferral, not a failure: the engine runs the step again at 08:00 local
    assert_eq!(deferral.message, "sms_quiet_hours");
    assert_eq!(
        deferral.defer_until,
        Some(DateTime::parse_from_rfc3339("2026-03-08T12:00:00Z")?.with_timezone(&Utc))
    );
    assert!(w.log.is_empty());
    // no slot was taken: the whole hourly budget of one is still there
    let tenant = tenant_by_slug(db.conn(), TENANT).await?.unwrap().id;
    let at = w.clock_now();
    assert!(rex_domain_store::take_channel_slot(db.conn(), tenant, Channel::Sms, at, 1).await?);
    Ok(())
}

async fn the_same_task_twice_sends_once(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(body_partial_json(json!({
            "from": {"email": "ana@mail.rex.example"},
            "personalizations": [{
                "to": [{"email": "lead-1@acme.example", "name": "Ana Lopez"}],
                "custom_args": {"rex_message_id": "m1:s1"},
                "headers": {
                    "List-Unsubscribe": format!("<{}>", unsubscribe_url(w.tenant, "m1:s1")),
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"
                }
            }]
        })))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sg-0001"))
        .expect(1)
        .mount(&server)
        .await;
    let agent = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    let first = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(first["status"], "sent", "{first}");
    assert_eq!(first["provider_id"], "sg-0001");
    assert_eq!(first["mailbox"], "ana@mail.rex.example");
    // a redelivery, then a retry (next attempt, same message id)
    for attempt in [1, 2] {
        let again = agent
            .run(
                &task("send", "m1", "s1", attempt),
                send_input(lead("lead-1"), "email"),
            )
            .await?;
        assert_eq!(again["status"], "sent", "{again}");
        assert_eq!(again["provider_id"], "sg-0001");
        assert_eq!(again["mailbox"], "ana@mail.rex.example");
        assert_eq!(again["replayed"], true);
    }
    server.verify().await;
    Ok(())
}

/// Imports the lead and the campaign and records the intent of `m1:s1`, as a worker
/// that crashed before calling the provider would have left them.
async fn crashed_intent(db: &TestDb, w: &World, at: DateTime<Utc>) -> anyhow::Result<()> {
    let c = db.conn();
    import_leads(
        c,
        w.tenant,
        &[LeadRow {
            external_id: "lead-1".into(),
            email: Some("lead-1@acme.example".into()),
            source: "crm".into(),
            stage: "demo".into(),
            ..Default::default()
        }],
        at,
    )
    .await?;
    let lead = lead_by_external_id(c, w.tenant, "lead-1")
        .await?
        .unwrap()
        .id;
    let campaign = create_campaign(c, w.tenant, "camp-1", json!({}), at)
        .await?
        .id;
    record_intent(
        c,
        &NewIntent {
            tenant_id: w.tenant,
            lead_id: lead,
            campaign_id: campaign,
            step_key: "m1:s1".into(),
            channel: Channel::Email,
            mailbox_id: None,
            variant_id: None,
            body_hash: "h".into(),
            at,
        },
    )
    .await?;
    Ok(())
}

async fn an_intent_without_receipt_is_never_sent_again(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = sendgrid(0).await;
    let live = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    crashed_intent(db, &w, t0() - Duration::minutes(2)).await?;
    // within the grace period the first attempt may still be sending
    let err = live
        .run(
            &task("send", "m1", "s1", 2),
            send_input(lead("lead-1"), "email"),
        )
        .await
        .unwrap_err();
    assert!(err.retryable, "{err:?}");
    // after it: outcome unknown, recorded, not resent
    w.clock.advance(Duration::minutes(15));
    let out = live
        .run(
            &task("send", "m1", "s1", 3),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "sent", "{out}");
    assert_eq!(out["reason"], "outcome_unknown");
    let again = live
        .run(
            &task("send", "m1", "s1", 4),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(again["reason"], "outcome_unknown");
    server.verify().await;
    // in dry-run the stand-in's log is the provider: not there means never sent
    let c = db.conn();
    let lead_id = lead_by_external_id(c, w.tenant, "lead-1")
        .await?
        .unwrap()
        .id;
    let campaign = rex_domain_store::campaign_by_name(c, w.tenant, "camp-1")
        .await?
        .unwrap()
        .id;
    record_intent(
        c,
        &NewIntent {
            tenant_id: w.tenant,
            lead_id,
            campaign_id: campaign,
            step_key: "m2:s1".into(),
            channel: Channel::Email,
            mailbox_id: None,
            variant_id: None,
            body_hash: "h".into(),
            at: w.clock_now() - Duration::hours(1),
        },
    )
    .await?;
    let dry = w.outreach(db, &Providers::default());
    for attempt in [2, 3] {
        let out = dry
            .run(
                &task("send", "m2", "s1", attempt),
                send_input(lead("lead-1"), "email"),
            )
            .await?;
        assert_eq!(out["status"], "skipped", "{out}");
        assert_eq!(out["reason"], "not_sent");
    }
    assert!(w.log.is_empty());
    // an entry in the persisted dry-run log is the stand-in's word that it "sent": the
    // intent is settled as sent, from any process, without sending again
    let Intent::New(intent) = record_intent(
        c,
        &NewIntent {
            tenant_id: w.tenant,
            lead_id,
            campaign_id: campaign,
            step_key: "m3:s1".into(),
            channel: Channel::Email,
            mailbox_id: None,
            variant_id: None,
            body_hash: "h".into(),
            at: w.clock_now() - Duration::hours(1),
        },
    )
    .await?
    else {
        anyhow::bail!("m3:s1 is a new intent");
    };
    let entry = record_dry_run(
        c,
        w.tenant,
        &NewDryRun {
            message_id: Some(intent),
            provider: "sendgrid".into(),
            operation: "send_email".into(),
            recipient: "lead-1@acme.example".into(),
            headers: vec![],
            rendered: "hello".into(),
            at: w.clock_now() - Duration::hours(1),
        },
    )
    .await?;
    let out = dry
        .run(
            &task("send", "m3", "s1", 2),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "sent", "{out}");
    let receipt = get_message(c, w.tenant, intent).await?.unwrap().receipt()?;
    let detail = receipt.and_then(|r| r.detail).unwrap_or_default();
    assert_eq!(detail, format!("dry_run {} (reconciled)", entry.id));
    assert!(w.log.is_empty());
    Ok(())
}

async fn the_mailbox_cap_holds_across_four_concurrent_workers(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 3).await?;
    let barrier = Arc::new(Barrier::new(4));
    let w = Arc::new(w);
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (url, barrier, w) = (db.url().to_owned(), barrier.clone(), w.clone());
        workers.push(tokio::spawn(async move {
            let store = Store::connect(&url, 1).await?;
            let agent = w.outreach(&store, &Providers::default());
            barrier.wait().await;
            let mut outs = Vec::new();
            for n in (worker..10).step_by(4) {
                let id = format!("lead-{n}");
                let out = match agent
                    .run(
                        &task("send", &format!("m{n}"), "s1", 1),
                        send_input(lead(&id), "email"),
                    )
                    .await
                {
                    Ok(out) => out,
                    // the shape the engine records for a deferral
                    Err(e) if e.defer_until.is_some() => serde_json::json!({
                        "status": "deferred", "reason": e.message,
                        "deferred_until": e.defer_until.map(|t| t.to_rfc3339()),
                    }),
                    Err(e) => anyhow::bail!("{id}: {e:?}"),
                };
                outs.push(out);
            }
            store.close().await?;
            anyhow::Ok(outs)
        }));
    }
    let mut outs: Vec<Value> = Vec::new();
    for worker in workers {
        outs.extend(worker.await??);
    }
    let status = |s: &str| outs.iter().filter(|o| o["status"] == s).count();
    assert_eq!((status("sent"), status("deferred")), (3, 7), "{outs:?}");
    for o in outs.iter().filter(|o| o["status"] == "deferred") {
        assert_eq!(o["reason"], "mailbox_daily_cap");
        assert_eq!(o["deferred_until"], "2026-03-04T00:00:00+00:00");
    }
    assert_eq!(w.log.len(), 3);
    Ok(())
}

async fn the_consent_gate_refuses_email_to_a_german_lead_without_consent(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = sendgrid(0).await;
    let agent = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    let mut german = lead("lead-de");
    german["country"] = json!("DE");
    german["timezone"] = json!("Europe/Berlin");
    w.clock.advance(Duration::hours(-5)); // 11:00 in Berlin
    let out = agent
        .run(&task("send", "m1", "s1", 1), send_input(german, "email"))
        .await?;
    assert_eq!(out["status"], "skipped", "{out}");
    assert_eq!(out["reason"], "DE requires prior consent for email");
    server.verify().await;
    Ok(())
}

async fn an_invalid_address_is_suppressed_as_a_hard_bounce(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let mailbox = w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = sendgrid_refusing_the_recipient().await;
    let agent = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    let out = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(out["status"], "suppressed", "{out}");
    assert_eq!(out["reason"], "hard_bounce");
    let entry = is_suppressed(
        db.conn(),
        w.tenant,
        Channel::Email,
        "lead-1@acme.example",
        w.clock_now(),
    )
    .await?;
    assert_eq!(entry.map(|e| e.reason).as_deref(), Some("hard_bounce"));
    // the slot of the send that did not happen was given back
    let sent =
        rex_domain_store::mailbox_sent_on(db.conn(), w.tenant, mailbox, t0().date_naive()).await?;
    assert_eq!(sent, 0);
    let again = agent
        .run(
            &task("send", "m1", "s1", 2),
            send_input(lead("lead-1"), "email"),
        )
        .await?;
    assert_eq!(again["status"], "suppressed", "{again}");
    server.verify().await;
    Ok(())
}

async fn an_opted_out_number_is_suppressed(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let server = twilio_refusing(21610, "Attempt to send to unsubscribed recipient").await;
    let agent = w.outreach(
        db,
        &Providers {
            twilio: Some(&server),
            ..Default::default()
        },
    );
    let out = agent
        .run(
            &task("send", "m1", "s4", 1),
            send_input(lead("lead-1"), "sms"),
        )
        .await?;
    assert_eq!(out["status"], "suppressed", "{out}");
    assert_eq!(out["reason"], "sms_stop");
    let out = agent
        .run(
            &task("send", "m1", "s5", 1),
            send_input(lead("lead-1"), "sms"),
        )
        .await?;
    assert_eq!(
        out["status"], "suppressed",
        "the ledger now stops it: {out}"
    );
    server.verify().await;
    Ok(())
}

async fn the_first_email_to_an_eu_lead_carries_the_notice_and_the_footer(
    db: &TestDb,
) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let agent = w.outreach(db, &Providers::default());
    let mut french = lead("lead-fr");
    french["country"] = json!("FR");
    french["timezone"] = json!("Europe/Paris");
    w.clock.advance(Duration::hours(-5));
    for step in ["s1", "s2"] {
        let out = agent
            .run(
                &task("send", "m1", step, 1),
                send_input(french.clone(), "email"),
            )
            .await?;
        assert_eq!(out["status"], "sent", "{out}");
        // the rule layer saw the send and agreed with the path's gates
        assert_eq!(out["decision"]["layer"], "rules", "{out}");
        assert_eq!(out["decision"]["rule"], "all_gates_passed", "{out}");
    }
    let entries = w.log.entries();
    assert_eq!(entries.len(), 2);
    let (first, second) = (&entries[0].rendered, &entries[1].rendered);
    assert!(first.contains("via crm, hunter"), "{first}");
    assert!(!second.contains("via crm, hunter"), "{second}");
    for text in [first, second] {
        assert!(text.contains("1 Main St, Springfield, US"), "{text}");
        assert!(
            text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{text}"
        );
    }
    // persisted too, for the CLI and the API, each row linked to its message intent
    let c = db.conn();
    let rows = list_dry_run(
        c,
        w.tenant,
        &DryRunFilter {
            limit: 10,
            ..DryRunFilter::default()
        },
    )
    .await?;
    assert_eq!(rows.len(), 2);
    for (row, step) in rows.iter().zip(["m1:s2", "m1:s1"]) {
        assert_eq!(row.provider, "sendgrid");
        assert_eq!(row.operation, "send_email");
        assert_eq!(row.recipient, "lead-fr@acme.example");
        assert!(
            row.rendered.contains("1 Main St, Springfield, US"),
            "{}",
            row.rendered
        );
        let unsubscribe = unsubscribe_url(w.tenant, step);
        assert!(
            !unsubscribe.contains(step),
            "the message id is signed, not shown"
        );
        assert!(row.rendered.contains(&unsubscribe), "{}", row.rendered);
        let headers = row.header_pairs()?;
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "List-Unsubscribe" && v.contains(&unsubscribe)),
            "{headers:?}"
        );
        let message = get_message(c, w.tenant, row.message_id.unwrap())
            .await?
            .unwrap();
        assert_eq!(message.step_key, step);
        let detail = message
            .receipt()?
            .and_then(|r| r.detail)
            .unwrap_or_default();
        assert_eq!(detail, format!("dry_run {}", row.id));
    }
    Ok(())
}

async fn a_linkedin_task_is_the_same_on_a_retry(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let agent = w.outreach(db, &Providers::default());
    let input = json!({"tenant": TENANT, "lead": lead("lead-1"), "campaign_id": "camp-1", "step": 2,
                       "message": {"body": "Hi Ana"}});
    let a = agent
        .run(&task("linkedin_task", "m1", "s2", 1), input.clone())
        .await?;
    let b = agent
        .run(&task("linkedin_task", "m1", "s2", 2), input)
        .await?;
    assert_eq!(a["status"], "task_created", "{a}");
    assert_eq!(a["task_id"], b["task_id"]);
    let mut objecting = lead("lead-2");
    objecting["consent"]["linkedin"] = json!("denied");
    let out = agent
        .run(
            &task("linkedin_task", "m2", "s2", 1),
            json!({"tenant": TENANT, "lead": objecting, "campaign_id": "camp-1"}),
        )
        .await?;
    assert_eq!(out["status"], "skipped");
    assert_eq!(out["reason"], "lead objected to LinkedIn");
    Ok(())
}

async fn a_provider_outage_is_retried_and_then_sends_once(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db).await?;
    let mailbox = w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"errors": [{"message": "down"}]})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let agent = w.outreach(
        db,
        &Providers {
            sendgrid: Some(&server),
            ..Default::default()
        },
    );
    let err = agent
        .run(
            &task("send", "m1", "s1", 1),
            send_input(lead("lead-1"), "email"),
        )
        .await
        .unwrap_err();
    assert!(err.retryable, "{err:?}");
    let day = t0().date_naive();
    assert_eq!(
        rex_domain_store::mailbox_sent_on(db.conn(), w.tenant, mailbox, day).await?,
        0
    );
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("X-Message-Id", "sg-0002"))
        .expect(1)
        .mount(&server)
        .await;
    for attempt in [2, 3] {
        let out = agent
            .run(
                &task("send", "m1", "s1", attempt),
                send_input(lead("lead-1"), "email"),
            )
            .await?;
        assert_eq!(out["status"], "sent", "{out}");
        assert_eq!(out["provider_id"], "sg-0002");
    }
    assert_eq!(
        rex_domain_store::mailbox_sent_on(db.conn(), w.tenant, mailbox, day).await?,
        1
    );
    server.verify().await;
    Ok(())
}

async fn the_store_agents_are_registered_only_with_a_store(db: &TestDb) -> anyhow::Result<()> {
    let mut without = rex_workers::Registry::new();
    rex_agents::register(&mut without, rex_agents::AgentsConfig::default(), None)?;
    assert!(without.get("outreach").is_none() && without.get("deliverability").is_none());
    let mut with = rex_workers::Registry::new();
    rex_agents::register(
        &mut with,
        rex_agents::AgentsConfig::default(),
        Some(db.store().clone()),
    )?;
    assert_eq!(with.names(), rex_agents::NAMES.map(str::to_owned).to_vec());
    Ok(())
}
