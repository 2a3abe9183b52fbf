//! The whole product on the real services: `lead-reactivation` over 200 demo leads on
//! PostgreSQL and RabbitMQ, with the production engine, workers and agents, dry-run
//! providers answered by the simulated world, and time skipped while everything waits.
//! Scripted answers make sure every kind happens — hard bounces, complaints, STOPs,
//! unsubscribe and out-of-office replies, interested replies — on top of what the
//! simulation answers by itself; and the outreach worker is killed mid-campaign (its
//! connection dropped, its attempts abandoned under their leases) and replaced.
//!
//! Then the promises are checked from the database alone: no message to an address
//! after its suppression; no touch after a reply; no SMS outside 08:00–21:00 in the
//! lead's zone; no mailbox over its daily cap; at most one message per (lead, step);
//! every suppressed lead's sequence ended when the suppression came.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use rex_agents::AgentsConfig;
use rex_agents::events::Events;
use rex_agents::simulation::{Driver, Senders, SkipClock, World, seed_senders};
use rex_broker::{AmqpBroker, Broker, BrokerConfig};
use rex_core::validate::ValidateOptions;
use rex_domain::Channel;
use rex_domain::channel::parse_tz;
use rex_domain::deliverability::{HealthTier, effective_daily_cap};
use rex_domain::replies::ReplyCategory;
use rex_domain::world::WorldEvent;
use rex_domain_store::entity::{delivery_events, leads, mailboxes, messages, suppressions};
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use rex_store::entity::missions;
use rex_workers::{Registry, Worker, WorkerConfig};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::demo;

const TENANT: &str = "e2e";
const LEADS: u32 = 200;
/// The outreach worker is killed after this many touches.
const CRASH_AFTER_TOUCHES: u64 = 120;

fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

async fn broker(prefix: &str) -> Arc<dyn Broker> {
    let url = amqp_url();
    Arc::new(
        AmqpBroker::connect(BrokerConfig {
            url: url.clone(),
            prefix: prefix.to_owned(),
            delivery_limit: 20,
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RabbitMQ not reachable at {url} ({e}): start it with `rabbitmq-server -detached`"
            )
        }),
    )
}

fn repo(file: &str) -> String {
    format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The pieces every "process" of the test is built from.
#[derive(Clone)]
struct Stack {
    url: String,
    store: Store,
    engine: Engine,
    clock: Arc<SkipClock>,
    prefix: String,
    shutdown: CancellationToken,
}

impl Stack {
    fn registry(&self) -> anyhow::Result<Registry> {
        let mut config = AgentsConfig::from_env()?;
        config.clock = self.clock.clone();
        config.outreach.tenant = TENANT.into();
        let mut registry = Registry::builtin();
        rex_agents::register_with_engine(
            &mut registry,
            config,
            self.store.clone(),
            self.engine.clone(),
        )?;
        Ok(registry)
    }

    /// A worker "process" for `agents`, on a connection and a pool of its own; aborting
    /// its task and shutting its broker down is a crash (unacked tasks go back to the
    /// queue, its attempts stay claimed until their leases pass).
    async fn worker(
        &self,
        name: &str,
        agents: &[&str],
    ) -> anyhow::Result<(tokio::task::JoinHandle<()>, Arc<dyn Broker>)> {
        let broker = broker(&self.prefix).await;
        let worker = Worker::new(
            Store::connect(&self.url, 8).await?,
            broker.clone(),
            WorkerConfig {
                concurrency: 16,
                prefetch: 32,
                shutdown_grace: Duration::from_secs(5),
                worker_id: name.to_owned(),
                lease: Duration::from_secs(3),
                cancel_poll: Duration::from_millis(500),
            },
        );
        let names: Vec<String> = agents.iter().map(|a| (*a).to_owned()).collect();
        let selected = self.registry()?.select(&names)?;
        let token = self.shutdown.child_token();
        let task = tokio::spawn(async move {
            if let Err(e) = worker.run(selected, token).await {
                eprintln!("worker stopped: {e}");
            }
        });
        Ok((task, broker))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_200_lead_campaign_on_postgres_and_rabbitmq_keeps_every_promise() -> anyhow::Result<()> {
    let db = rex_store::testing::fresh_postgres().await;
    let prefix = format!("test-campaign-{}", Uuid::new_v4().simple());
    let result = run_campaign(db.url(), &prefix).await;
    delete_topology(&prefix).await;
    let checks = match result {
        Ok(()) => check_promises(db.store()).await,
        Err(e) => Err(e),
    };
    db.cleanup().await;
    checks
}

async fn delete_topology(prefix: &str) {
    let Ok(broker) = AmqpBroker::connect(BrokerConfig {
        url: amqp_url(),
        prefix: prefix.to_owned(),
        delivery_limit: 20,
    })
    .await
    else {
        return;
    };
    let mut agents: Vec<String> = Registry::builtin().names();
    agents.extend(rex_agents::NAMES.iter().map(|s| (*s).to_owned()));
    let _ = broker.delete_topology(&agents).await;
    broker.shutdown().await;
}

async fn run_campaign(url: &str, prefix: &str) -> anyhow::Result<()> {
    let store = Store::connect(url, 16).await?;
    let clock = Arc::new(SkipClock::new());
    let control = broker(prefix).await;
    let engine = Engine::new(
        store.clone(),
        control.clone(),
        Catalog::new(store.clone(), ValidateOptions::default()),
        clock.clone(),
    );
    let stack = Stack {
        url: url.to_owned(),
        store: store.clone(),
        engine: engine.clone(),
        clock: clock.clone(),
        prefix: prefix.to_owned(),
        shutdown: CancellationToken::new(),
    };
    let agents = stack.registry()?.names();
    control.declare(&agents).await?;

    let senders = Senders::parse(&std::fs::read(repo("data/demo/senders.json"))?)?;
    seed_senders(&store, TENANT, &senders, clock.now()).await?;
    for file in [
        "definitions/outreach-sequence.yaml",
        "definitions/lead-reactivation.yaml",
    ] {
        engine
            .catalog()
            .push(&std::fs::read(repo(file))?, Some(file))
            .await?;
    }

    let o_store = Store::connect(url, 8).await?;
    let orchestrator = Orchestrator::new(
        Engine::new(
            o_store.clone(),
            broker(prefix).await,
            Catalog::new(o_store, ValidateOptions::default()),
            clock.clone(),
        ),
        OrchestratorConfig {
            relay_grace: Duration::from_millis(500),
            timer_poll: Duration::from_millis(5),
            agents: agents.clone(),
            ..OrchestratorConfig::default()
        },
    );
    let o_token = stack.shutdown.child_token();
    let o_task = tokio::spawn(async move {
        if let Err(e) = orchestrator.run(o_token).await {
            eprintln!("orchestrator stopped: {e}");
        }
    });
    let others = [
        "reviver",
        "scraper",
        "personalizer",
        "deliverability",
        "analytics",
        "icp",
    ];
    let (others_task, _others_broker) = stack.worker("others", &others).await?;
    let (outreach_a, outreach_a_broker) = stack.worker("outreach-a", &["outreach"]).await?;

    let mut input: Value =
        serde_json::from_slice(&std::fs::read(repo("data/demo/campaign.json"))?)?;
    input["source"] = json!(demo("leads.json"));
    input["max_leads"] = json!(LEADS);
    input["campaign"]["id"] = json!("e2e-campaign");
    let started = engine
        .start_mission(StartMission {
            definition: "lead-reactivation".into(),
            input,
            ..StartMission::default()
        })
        .await?;

    let events = Events::new(store.clone(), engine.clone(), clock.clone(), TENANT);
    let mut world = World::new(
        store.clone(),
        engine.clone(),
        events,
        Some(TENANT.into()),
        clock.now(),
    );
    script(&mut world, clock.now());
    let mut driver = Driver::new(store.clone(), clock.clone(), world)
        .with_quantum(chrono::Duration::minutes(10));

    // the crash: once enough touches went out, the outreach worker dies mid-flight and
    // a new one takes its place
    let touches = Arc::new(AtomicU64::new(0));
    let seen = touches.clone();
    let crash_stack = stack.clone();
    let crash = tokio::spawn(async move {
        while seen.load(Ordering::Relaxed) < CRASH_AFTER_TOUCHES {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        outreach_a.abort();
        let _ = outreach_a.await;
        outreach_a_broker.shutdown().await;
        drop(outreach_a_broker);
        eprintln!("outreach worker killed after {CRASH_AFTER_TOUCHES} touches");
        crash_stack.worker("outreach-b", &["outreach"]).await
    });
    let finished = driver
        .run(started.id, Duration::from_secs(600), |_, stats| {
            touches.store(stats.touches, Ordering::Relaxed);
        })
        .await;
    let crashed = crash.is_finished();
    stack.shutdown.cancel();
    let replacement = if crashed {
        Some(crash.await??)
    } else {
        crash.abort();
        None
    };
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        let _ = o_task.await;
        let _ = others_task.await;
        if let Some((task, broker)) = replacement {
            let _ = task.await;
            broker.shutdown().await;
        }
    })
    .await;
    let finished = finished?;
    eprintln!(
        "campaign: {} after {:.1} simulated days in {:.1} s ({} skips); world {:?}",
        finished.mission.status,
        finished.simulated.num_minutes() as f64 / 1440.0,
        finished.wall.as_secs_f64(),
        finished.skips,
        finished.world
    );
    assert_eq!(
        finished.mission.status, "succeeded",
        "{:?}",
        finished.mission.error
    );
    assert!(crashed, "the outreach worker was never killed");
    let injected = driver.world().injected();
    assert_eq!(
        injected.len(),
        SCRIPT.len(),
        "every scripted answer was used: {injected:?}"
    );
    Ok(())
}

/// The scripted answers, each to the first touch on its channel of a fresh lead.
const SCRIPT: [(Channel, &str); 14] = [
    (Channel::Email, "bounce"),
    (Channel::Email, "bounce"),
    (Channel::Email, "complaint"),
    (Channel::Email, "complaint"),
    (Channel::Email, "unsubscribe"),
    (Channel::Email, "unsubscribe"),
    (Channel::Email, "out_of_office"),
    (Channel::Email, "out_of_office"),
    (Channel::Email, "interested"),
    (Channel::Email, "interested"),
    (Channel::Sms, "stop"),
    (Channel::Sms, "stop"),
    (Channel::Sms, "interested"),
    (Channel::Linkedin, "interested"),
];

fn script(world: &mut World, now: DateTime<Utc>) {
    let back = (now + chrono::Duration::days(9)).format("%-d %B %Y");
    for (channel, kind) in SCRIPT {
        let reply = |intended: ReplyCategory, text: String| WorldEvent::Reply { intended, text };
        let event = match kind {
            "bounce" => WorldEvent::HardBounce,
            "complaint" => WorldEvent::Complaint,
            "unsubscribe" => reply(
                ReplyCategory::Unsubscribe,
                "Please remove me from your list.".into(),
            ),
            "out_of_office" => reply(
                ReplyCategory::OutOfOffice { return_date: None },
                format!(
                    "Automatic reply: I am out of the office until {back} with limited access to email."
                ),
            ),
            "stop" => WorldEvent::SmsStop {
                text: "STOP".into(),
            },
            _ => reply(
                ReplyCategory::Interested,
                "Sounds interesting. Can you send over a few times for a call next week?".into(),
            ),
        };
        world.inject(channel, event);
    }
}

/// Every promise, from the database alone.
async fn check_promises(store: &Store) -> anyhow::Result<()> {
    let c = store.conn();
    let tenant = rex_domain_store::tenant_by_slug(c, TENANT)
        .await?
        .expect("the tenant")
        .id;
    let leads: HashMap<Uuid, leads::Model> = leads::Entity::find()
        .filter(leads::Column::TenantId.eq(tenant))
        .all(c)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let by_external: HashMap<&str, &leads::Model> = leads
        .values()
        .map(|l| (l.external_id.as_str(), l))
        .collect();
    let sent: Vec<messages::Model> = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::ReceiptStatus.eq("sent"))
        .all(c)
        .await?;
    let ledger: Vec<suppressions::Model> = suppressions::Entity::find()
        .filter(suppressions::Column::TenantId.eq(tenant))
        .all(c)
        .await?;
    let events: Vec<delivery_events::Model> = delivery_events::Entity::find()
        .filter(delivery_events::Column::TenantId.eq(tenant))
        .all(c)
        .await?;
    assert!(
        sent.len() > 300,
        "a 200-lead campaign sends: {}",
        sent.len()
    );

    // the address a message went to, as the ledger keys it
    let address_hash = |m: &messages::Model| -> Option<String> {
        let lead = &leads[&m.lead_id];
        match m.channel.as_str() {
            "sms" => lead.phone_hash.clone(),
            _ => lead.email_hash.clone(),
        }
    };

    // 1. no message to an address after its suppression
    let mut suppressed_at: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
    for s in ledger.iter().filter(|s| s.lifted_at.is_none()) {
        let key = (s.channel.clone(), s.address_hash.clone());
        let at = suppressed_at.entry(key).or_insert(s.suppressed_at);
        *at = (*at).min(s.suppressed_at);
    }
    for m in &sent {
        if let Some(hash) = address_hash(m)
            && let Some(at) = suppressed_at.get(&(m.channel.clone(), hash))
        {
            assert!(
                m.intended_at < *at,
                "message {} ({}) decided at {} after its address was suppressed at {at}",
                m.id,
                m.step_key,
                m.intended_at
            );
        }
    }
    let new_suppressions = ledger
        .iter()
        .filter(|s| !s.source_event.starts_with("import"))
        .count();
    assert!(
        new_suppressions >= 8,
        "bounces, complaints, unsubscribes and STOPs reached the ledger: {new_suppressions}"
    );

    // 2. no touch after a reply (an out-of-office only pauses)
    let mut answered: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    for e in &events {
        let ends = match e.kind.as_str() {
            "reply" | "sms_inbound" => !e.payload.to_string().contains("out_of_office"),
            "bounce" | "spamreport" | "booking" => true,
            _ => false,
        };
        let lead = e.payload["lead_id"]
            .as_str()
            .and_then(|id| by_external.get(id));
        if ends && let Some(lead) = lead {
            let at = answered.entry(lead.id).or_insert(e.occurred_at);
            *at = (*at).min(e.occurred_at);
        }
    }
    assert!(answered.len() >= 10, "answers happened: {}", answered.len());
    for m in &sent {
        if let Some(at) = answered.get(&m.lead_id) {
            assert!(
                m.intended_at <= *at,
                "{} sent to lead {} at {} after its answer at {at}",
                m.step_key,
                leads[&m.lead_id].external_id,
                m.intended_at
            );
        }
    }

    // 3. no SMS outside 08:00-21:00 in the lead's zone
    let mut texts = 0;
    for m in sent.iter().filter(|m| m.channel == "sms") {
        texts += 1;
        let zone = leads[&m.lead_id]
            .time_zone
            .as_deref()
            .expect("a texted lead has a zone");
        let local = m.intended_at.with_timezone(&parse_tz(zone)?);
        assert!(
            (8..21).contains(&local.hour()),
            "text {} at {local} local",
            m.step_key
        );
    }
    assert!(texts > 0, "the campaign sent texts");

    // 4. no mailbox over its daily cap (its own ceiling and its warm-up cap that day)
    let boxes: HashMap<Uuid, mailboxes::Model> = mailboxes::Entity::find()
        .filter(mailboxes::Column::TenantId.eq(tenant))
        .all(c)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut per_day: BTreeMap<(Uuid, chrono::NaiveDate), u32> = BTreeMap::new();
    for m in sent.iter().filter(|m| m.channel == "email") {
        let mailbox = m.mailbox_id.expect("an email names its mailbox");
        *per_day
            .entry((mailbox, m.intended_at.date_naive()))
            .or_default() += 1;
    }
    assert!(!per_day.is_empty());
    for ((mailbox, day), n) in &per_day {
        let b = &boxes[mailbox];
        let end_of_day = day.and_hms_opt(23, 59, 59).expect("a time").and_utc();
        let age = u32::try_from((end_of_day - b.warmup_started_at).num_days().max(0))?;
        let cap =
            effective_daily_cap(age, HealthTier::Excellent).min(u32::try_from(b.daily_cap.max(0))?);
        assert!(*n <= cap, "{} sent {n} on {day}, cap {cap}", b.address);
    }

    // 5. at most one message per (lead, step of the sequence)
    let mut touched: HashSet<(Uuid, String)> = HashSet::new();
    for m in &sent {
        let step = m.step_key.rsplit(':').next().unwrap_or_default();
        let slot = step.split('_').next().unwrap_or_default().to_owned();
        assert!(
            touched.insert((m.lead_id, slot.clone())),
            "lead {} got two messages for {slot}",
            leads[&m.lead_id].external_id
        );
    }

    // 6. every suppressed lead's sequence ended when the suppression came
    let sequences: Vec<missions::Model> = rex_store::entity::missions::Entity::find()
        .filter(missions::Column::DefinitionName.eq("outreach-sequence"))
        .all(c)
        .await?;
    let hashes: HashSet<&str> = ledger
        .iter()
        .filter(|s| !s.source_event.starts_with("import"))
        .map(|s| s.address_hash.as_str())
        .collect();
    let mut checked = 0;
    for mission in &sequences {
        let Some(lead) = mission.input["lead"]["id"]
            .as_str()
            .and_then(|id| by_external.get(id))
        else {
            continue;
        };
        let lead_hashes = [lead.email_hash.as_deref(), lead.phone_hash.as_deref()];
        let Some(at) = ledger
            .iter()
            .filter(|s| hashes.contains(s.address_hash.as_str()))
            .filter(|s| lead_hashes.contains(&Some(s.address_hash.as_str())))
            .map(|s| s.suppressed_at)
            .min()
        else {
            continue;
        };
        checked += 1;
        assert!(
            matches!(
                mission.status.as_str(),
                "succeeded" | "cancelled" | "failed"
            ),
            "the sequence of suppressed lead {} is {}",
            lead.external_id,
            mission.status
        );
        let ended = mission.finished_at.expect("an ended mission has an end");
        assert!(
            ended <= at + chrono::Duration::minutes(1),
            "the sequence of lead {} ran on until {ended} after its suppression at {at}",
            lead.external_id
        );
    }
    assert!(checked >= 8, "suppressed leads with sequences: {checked}");
    Ok(())
}
