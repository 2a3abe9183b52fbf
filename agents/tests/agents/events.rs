//! `outreach.handle_event` with a real engine: a mission listening on `lead:<id>` is
//! cancelled by an unsubscribe reply or a STOP text, a repeat of the same webhook acts
//! once, and an out-of-office reaches the mission as `lead.out_of_office` with `until`.

use std::sync::Arc;
use std::time::Duration;

use rex_agents::AgentsConfig;
use rex_agents::events::Events;
use rex_broker::MemoryBroker;
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_domain_store::entity::suppressions;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use rex_store::testing::TestDb;
use rex_workers::{Agent, Registry};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store_world::{
    Providers, TENANT, World, lead, send_input, sendgrid_refusing_the_recipient, task,
    twilio_refusing,
};

on_both_backends!(
    webhook_events_suppress_and_signal_the_leads_missions_once,
    a_refusal_at_send_ends_the_leads_sequence_of_its_tenant_only,
);

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
  lead.bounced: cancel
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

/// An engine with the listener definition pushed and an orchestrator running.
struct Listening {
    store: Store,
    engine: Engine,
    shutdown: CancellationToken,
    orchestrator: tokio::task::JoinHandle<Result<(), rex_engine::EngineError>>,
}

impl Listening {
    async fn new(db: &TestDb) -> anyhow::Result<Self> {
        let store: Store = (**db).clone();
        let engine = engine(store.clone());
        engine
            .catalog()
            .push(SEQUENCE.as_bytes(), Some("listener.yaml"))
            .await?;
        let shutdown = CancellationToken::new();
        let (e, token) = (engine.clone(), shutdown.clone());
        let orchestrator = tokio::spawn(async move {
            let config = OrchestratorConfig {
                relay_grace: Duration::from_millis(300),
                relay_interval: Duration::from_millis(100),
                timer_poll: Duration::from_millis(20),
                ..OrchestratorConfig::default()
            };
            Orchestrator::new(e, config).run(token).await
        });
        Ok(Self {
            store,
            engine,
            shutdown,
            orchestrator,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.orchestrator.await??;
        Ok(())
    }
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
    let listening = Listening::new(db).await?;
    let (store, engine) = (listening.store.clone(), listening.engine.clone());

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

    listening.stop().await
}

/// An address the provider refuses at send ends the lead's sequence as the webhook
/// would: Twilio 21610 (opted out) → `lead.stop`, SendGrid's invalid recipient →
/// `lead.bounced`. Only the sending tenant's missions are reached (globex also has a
/// `lead-1`), and the redelivered step publishes again, which the mission takes once.
async fn a_refusal_at_send_ends_the_leads_sequence_of_its_tenant_only(
    db: &TestDb,
) -> anyhow::Result<()> {
    let listening = Listening::new(db).await?;
    let (store, engine) = (listening.store.clone(), listening.engine.clone());
    let w = World::new(&store).await?;
    w.mailbox(&store, "ana@mail.rex.example", 100, 40).await?;
    let twilio = twilio_refusing(21610, "Attempt to send to unsubscribed recipient").await;
    let sendgrid = sendgrid_refusing_the_recipient().await;
    let providers = Providers {
        sendgrid: Some(&sendgrid),
        twilio: Some(&twilio),
    };
    let events = Events::new(
        store.clone(),
        engine.clone(),
        Arc::new(w.clock.clone()),
        TENANT,
    );
    let outreach = w.outreach(&store, &providers).with_events(events);
    let mission = |tenant: &'static str, lead: &'static str| {
        let engine = engine.clone();
        async move {
            let start = StartMission {
                definition: "listener".into(),
                input: json!({"lead_id": lead}),
                ..StartMission::default()
            };
            anyhow::Ok(engine.start_mission_for(tenant, start).await?.id)
        }
    };

    // Twilio 21610: sms_stop on the ledger, lead.stop to acme's lead-1 alone
    let stopped = mission(TENANT, "lead-1").await?;
    let other_tenant = mission("globex", "lead-1").await?;
    status_becomes(&store, stopped, "running").await?;
    let sms = outreach
        .run(
            &task("send", "m1", "t1_sms", 1),
            send_input(lead("lead-1"), "sms"),
        )
        .await?;
    assert_eq!(
        (
            &sms["status"],
            &sms["reason"],
            &sms["signal"],
            &sms["missions"]
        ),
        (
            &json!("suppressed"),
            &json!("sms_stop"),
            &json!("lead.stop"),
            &json!(1)
        ),
        "{sms}"
    );
    status_becomes(&store, stopped, "cancelled").await?;
    let signals = rex_store::load_signals(store.conn(), &[stopped]).await?;
    assert_eq!(
        signals
            .iter()
            .map(|s| s.signal_id.as_str())
            .collect::<Vec<_>>(),
        ["outreach:m1:t1_sms"]
    );
    assert_eq!(
        store.get_mission(other_tenant).await?.unwrap().status,
        "running"
    );
    // redelivered: replayed from the record, not sent again, published again (no
    // mission is still listening, and the cancelled one keeps its single signal)
    let again = outreach
        .run(
            &task("send", "m1", "t1_sms", 2),
            send_input(lead("lead-1"), "sms"),
        )
        .await?;
    assert_eq!(
        (&again["replayed"], &again["signal"], &again["missions"]),
        (&json!(true), &json!("lead.stop"), &json!(0)),
        "{again}"
    );
    assert_eq!(
        rex_store::load_signals(store.conn(), &[stopped])
            .await?
            .len(),
        1
    );

    // SendGrid refuses the recipient: hard_bounce on the ledger, lead.bounced
    let bounced = mission(TENANT, "lead-2").await?;
    status_becomes(&store, bounced, "running").await?;
    let email = outreach
        .run(
            &task("send", "m2", "t1_email", 1),
            send_input(lead("lead-2"), "email"),
        )
        .await?;
    assert_eq!(
        (&email["reason"], &email["signal"], &email["missions"]),
        (&json!("hard_bounce"), &json!("lead.bounced"), &json!(1)),
        "{email}"
    );
    status_becomes(&store, bounced, "cancelled").await?;
    assert_eq!(ledger(&store, "sms_stop").await?, 1);
    assert_eq!(ledger(&store, "hard_bounce").await?, 1);

    engine.cancel_mission(other_tenant, "test over").await?;
    twilio.verify().await;
    sendgrid.verify().await;
    listening.stop().await
}
