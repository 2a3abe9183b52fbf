//! `outreach.handle_event` with a real engine: a mission listening on `lead:<id>` is
//! cancelled by an unsubscribe reply or a STOP text, a repeat of the same webhook acts
//! once, and an out-of-office reaches the mission as `lead.out_of_office` with `until`.

use std::sync::Arc;
use std::time::Duration;

use rex_agents::AgentsConfig;
use rex_broker::MemoryBroker;
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_domain_store::entity::suppressions;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use rex_store::testing::TestDb;
use rex_workers::Registry;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store_world::{TENANT, task};

on_both_backends!(webhook_events_suppress_and_signal_the_leads_missions_once);

const SEQUENCE: &str = r#"
name: listener
version: 1
inputs:
  lead_id: {type: string, required: true}
correlation_keys: ["lead:${inputs.lead_id}"]
on_signal:
  lead.unsubscribed: cancel
  lead.replied: cancel
  lead.stop: cancel
steps:
  - {id: wait, wait_for: {signal: linkedin.done, timeout: 1h}}
"#;

fn engine(store: Store) -> Engine {
    let catalog = Catalog::new(store.clone(), ValidateOptions::default());
    Engine::new(
        store,
        Arc::new(MemoryBroker::new(5)),
        catalog,
        Arc::new(SystemClock),
    )
}

async fn start(engine: &Engine, lead: &str) -> anyhow::Result<Uuid> {
    let started = engine
        .start_mission(StartMission {
            definition: "listener".into(),
            input: json!({"lead_id": lead}),
            ..StartMission::default()
        })
        .await?;
    Ok(started.id)
}

async fn status_becomes(store: &Store, id: Uuid, want: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let m = store.get_mission(id).await?.expect("mission exists");
        if m.status == want {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "mission {id} is {}, expected {want}",
            m.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ledger(store: &Store, reason: &str) -> anyhow::Result<usize> {
    Ok(suppressions::Entity::find()
        .filter(suppressions::Column::Reason.eq(reason))
        .all(store.conn())
        .await?
        .len())
}

fn event(source: &str, kind: &str, id: &str, lead: &str, address: &str, text: &str) -> Value {
    json!({"tenant": TENANT, "source": source, "event": {
        "kind": kind, "id": id, "lead_id": lead, "address": address, "text": text,
        "at": "2026-12-01T15:00:00Z", "timezone": "America/New_York"}})
}

async fn webhook_events_suppress_and_signal_the_leads_missions_once(
    db: &TestDb,
) -> anyhow::Result<()> {
    let store: Store = (**db).clone();
    let engine = engine(store.clone());
    engine
        .catalog()
        .push(SEQUENCE.as_bytes(), Some("listener.yaml"))
        .await?;
    let shutdown = CancellationToken::new();
    let orchestrator = tokio::spawn({
        let (engine, token) = (engine.clone(), shutdown.clone());
        async move {
            let config = OrchestratorConfig {
                relay_grace: Duration::from_millis(300),
                relay_interval: Duration::from_millis(100),
                timer_poll: Duration::from_millis(20),
                ..OrchestratorConfig::default()
            };
            Orchestrator::new(engine, config).run(token).await
        }
    });

    let mut registry = Registry::new();
    rex_agents::register_with_engine(
        &mut registry,
        AgentsConfig::default(),
        store.clone(),
        engine.clone(),
    )?;
    let outreach = registry.select(&["outreach".to_owned()])?.remove(0);
    assert!(outreach.actions().contains(&"handle_event"));
    let ctx = task("handle_event", "m-events", "handle", 1);

    // an unsubscribe reply: ledger entry, mission cancelled; the same webhook again acts once
    let unsubscribed = start(&engine, "lead-1").await?;
    status_becomes(&store, unsubscribed, "running").await?;
    let reply = event(
        "inbound_email",
        "reply",
        "in-1",
        "lead-1",
        "ana@acme.example",
        "Please remove me from your list",
    );
    let out = outreach.run(&ctx, reply.clone()).await?;
    assert_eq!(out["signal"], "lead.unsubscribed", "{out}");
    assert_eq!(out["duplicate"], false);
    assert_eq!(
        (&out["layer"], &out["rule"]),
        (&json!("rules"), &json!("suppress_on_unsubscribe"))
    );
    status_becomes(&store, unsubscribed, "cancelled").await?;
    assert_eq!(ledger(&store, "unsubscribe").await?, 1);
    let again = outreach.run(&ctx, reply).await?;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(ledger(&store, "unsubscribe").await?, 1);

    // a STOP text: sms_stop entry, mission cancelled
    let stopped = start(&engine, "lead-2").await?;
    status_becomes(&store, stopped, "running").await?;
    let stop = event(
        "twilio",
        "sms_inbound",
        "SM1:received",
        "lead-2",
        "+14155550142",
        "STOP",
    );
    let out = outreach.run(&ctx, stop).await?;
    assert_eq!(out["signal"], "lead.stop", "{out}");
    assert_eq!(
        (&out["layer"], &out["rule"]),
        (&json!("rules"), &json!("suppress_on_sms_stop"))
    );
    status_becomes(&store, stopped, "cancelled").await?;
    assert_eq!(ledger(&store, "sms_stop").await?, 1);

    // an out-of-office with a date: no ledger entry, the signal carries `until`
    let away = start(&engine, "lead-3").await?;
    status_becomes(&store, away, "running").await?;
    let ooo = event(
        "inbound_email",
        "reply",
        "in-3",
        "lead-3",
        "bo@acme.example",
        "I am out of the office until December 14, 2026.",
    );
    let out = outreach.run(&ctx, ooo).await?;
    assert_eq!(out["signal"], "lead.out_of_office", "{out}");
    // no LLM configured here: the deterministic classifier decides
    assert_eq!(out["layer"], "fallback", "{out}");
    let signals = rex_store::load_signals(store.conn(), &[away]).await?;
    let got = signals
        .iter()
        .find(|s| s.name == "lead.out_of_office")
        .expect("the mission has the out-of-office signal");
    assert_eq!(got.signal_id, "inbound_email:in-3");
    assert_eq!(got.payload["until"], "2026-12-15T05:00:00Z");
    assert_eq!(ledger(&store, "unsubscribe").await?, 1);
    let all = suppressions::Entity::find().all(store.conn()).await?.len();
    assert_eq!(
        all, 2,
        "only the unsubscribe and the STOP are on the ledger"
    );
    status_becomes(&store, away, "running").await?;

    shutdown.cancel();
    orchestrator.await??;
    Ok(())
}
