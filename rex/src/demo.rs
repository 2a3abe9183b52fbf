//! `rex demo`: the product end to end on the embedded default. A reactivation campaign
//! (`definitions/lead-reactivation.yaml`, one `outreach-sequence` child per lead) over
//! the shipped demo data, with dry-run providers answered by the simulated world
//! (`rex_agents::simulation`) and time skipped whenever every mission only waits, so
//! three weeks of sequences take a minute or two. Prints the campaign report.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rex_agents::events::Events;
use rex_agents::simulation::{Driver, Finished, Senders, SkipClock, World, seed_senders};
use rex_engine::StartMission;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cli::{DemoArgs, Global};
use crate::embedded::Embedded;
use crate::{input, setup};

/// The child first: the catalog refuses a parent whose child it does not know.
const DEFINITIONS: [&str; 2] = [
    "definitions/outreach-sequence.yaml",
    "definitions/lead-reactivation.yaml",
];

pub async fn run(g: &Global, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = match &g.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", tmp.path().join("rex.db").display()),
    };
    let store = setup::store(g, Some(&url)).await?;
    let broker = setup::embedded_broker(g).await?;
    let clock = Arc::new(SkipClock::new());
    let tenant = rex_agents::AgentsConfig::from_env()?.outreach.tenant;

    let senders = Senders::parse(&read(&args.senders)?)
        .with_context(|| format!("in {}", args.senders.display()))?;
    seed_senders(&store, &tenant, &senders, clock.now()).await?;
    let mut input = input::parse(&args.input)?;
    if let Some(n) = args.leads
        && let Some(obj) = input.as_object_mut()
    {
        obj.insert("max_leads".into(), n.into());
    }

    let embedded = Embedded::start(
        store.clone(),
        broker,
        args.concurrency,
        CancellationToken::new(),
        Some(clock.clone()),
    )
    .await?;
    let engine = embedded.engine.clone();
    let mut root = None;
    for file in DEFINITIONS {
        let reg = engine
            .catalog()
            .push(&read(Path::new(file))?, Some(file))
            .await?;
        root = Some(reg.row);
    }
    let root = root.context("no definition")?;
    let started = engine
        .start_mission(StartMission {
            definition: root.name.clone(),
            version: Some(root.version),
            input,
            ..StartMission::default()
        })
        .await?;
    let start = clock.now();
    eprintln!(
        "campaign mission {} on {} sending mailboxes; simulated world, dry-run providers",
        started.id,
        senders.mailbox_count()
    );

    let events = Events::new(store.clone(), engine.clone(), clock.clone(), &tenant);
    let world = World::new(store.clone(), engine, events, Some(tenant), start);
    // timers fire up to 10 simulated minutes late: what falls due together runs together
    let mut driver = Driver::new(store.clone(), clock.clone(), world)
        .with_quantum(chrono::Duration::minutes(10));
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let finished = driver
        .run(
            started.id,
            Duration::from_secs(args.timeout_secs),
            |now, stats| {
                let day = (now - start).num_hours() as f64 / 24.0;
                bar.set_message(format!(
                    "day {day:>5.1}  touches {}  replies {}  bounces {}  bookings {}",
                    stats.touches, stats.replies, stats.bounces, stats.bookings
                ));
            },
        )
        .await;
    bar.finish_and_clear();
    embedded.stop().await;
    let finished = finished?;

    let report = finished
        .mission
        .output
        .as_ref()
        .and_then(|o| o.get("report"))
        .cloned();
    if args.json {
        let out = serde_json::json!({
            "mission": finished.mission.id,
            "status": finished.mission.status,
            "report": report,
            "world": finished.world,
            "simulated_days": finished.simulated.num_minutes() as f64 / 1440.0,
            "wall_seconds": finished.wall.as_secs_f64(),
        });
        println!("{out:#}");
    } else {
        print!("{}", render(&finished, report.as_ref()));
    }
    Ok(if finished.mission.status == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The report as a person reads it.
fn render(f: &Finished, report: Option<&Value>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nmission {}: {}  ({:.1} simulated days in {:.1} s, {} time skips)",
        f.mission.id,
        f.mission.status,
        f.simulated.num_minutes() as f64 / 1440.0,
        f.wall.as_secs_f64(),
        f.skips
    );
    if let Some(error) = &f.mission.error {
        let _ = writeln!(out, "error: {error}");
    }
    let w = &f.world;
    let _ = writeln!(
        out,
        "world: {} touches answered: {} delivered, {} bounces, {} complaints, {} replies, {} STOPs, {} bookings, {} LinkedIn tasks done",
        w.touches,
        w.delivered,
        w.bounces,
        w.complaints,
        w.replies,
        w.stops,
        w.bookings,
        w.tasks_done
    );
    let Some(r) = report else {
        let _ = writeln!(out, "no campaign report (the report step did not run)");
        return out;
    };
    let num = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
    if let Some(funnel) = r.get("funnel") {
        let _ = writeln!(out, "\nfunnel");
        if let Some(imported) = funnel.get("imported") {
            let n = |k: &str| imported.get(k).and_then(Value::as_u64).unwrap_or(0);
            let _ = writeln!(
                out,
                "  imported        {:>5}  ({} rejected, {} already suppressed)",
                n("total"),
                n("rejected"),
                n("suppressed")
            );
        }
        if let Some(Value::Object(ex)) = funnel.get("excluded_by_reason") {
            for (reason, n) in ex {
                let _ = writeln!(out, "  excluded        {n:>5}  {reason}");
            }
        }
    }
    if let (Some(Value::Object(m)), Some(rates)) = (r.get("metrics"), r.get("rates")) {
        let _ = writeln!(out, "\ncampaign");
        for (name, v) in m {
            let _ = writeln!(out, "  {name:<18} {v:>6}");
        }
        let _ = writeln!(out, "rates");
        if let Value::Object(rates) = rates {
            for (name, v) in rates {
                let _ = writeln!(out, "  {name:<18} {:>6.2} %", num(Some(v)) * 100.0);
            }
        }
    }
    if let Some(Value::Object(variants)) = r.get("by_variant") {
        let _ = writeln!(out, "\nA/B variants");
        for (key, v) in variants {
            let sent = num(v.get("metrics").and_then(|m| m.get("sent")));
            let positive = num(v.get("rates").and_then(|m| m.get("positive_reply")));
            let _ = writeln!(
                out,
                "  {key:<6} sent {sent:>5}  positive replies {:>5.2} %",
                positive * 100.0
            );
        }
    }
    if let Some(e) = r.get("experiment") {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(out, "verdict: {} {}", text("verdict"), text("variant"));
        if !text("reason").is_empty() {
            let _ = writeln!(out, "  {}", text("reason"));
        }
    }
    if let Some(Value::Array(recs)) = r.get("recommendations") {
        let _ = writeln!(out, "\nrecommendations");
        if recs.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for rec in recs {
            let kind = rec.get("kind").and_then(Value::as_str).unwrap_or("?");
            let reason = rec.get("reason").and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(out, "  - {kind}: {reason}");
        }
    }
    out
}
