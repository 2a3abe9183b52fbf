//! `rex bench timers`: N missions, each waiting on one durable timer (a one-step
//! `wait_until`), seeded in bulk SQL, then fired by the real orchestrator(s). Reports
//! firing throughput, lateness and the process's memory while the timers are pending.
//!
//! Seeding copies the rows the engine itself wrote for one template mission, N times,
//! with `INSERT … SELECT … generate_series` (not counted). The due times are spread
//! evenly over `--due-within` starting at T0; the orchestrators run on a clock shifted so
//! that T0 is one second after they start, whatever seeding took — the timers were
//! written with real times, the engine simply sees them become due as if seeding had
//! been instantaneous. Lateness is exact and read back from the database afterwards:
//! the step's `finished_at` (the engine's time when it applied the firing) minus its
//! due time (the mission's `at` input), so the bench itself holds nothing per timer.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rex_core::protocol::Clock;
use rex_engine::{Catalog, Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{BenchArgs, namespaced, rss_mib};
use crate::cli::Global;
use crate::setup;

const DEFINITION: &str = r#"
name: bench-timer
version: 1
inputs:
  at: {type: string, required: true}
steps:
  - {id: wait, wait_until: "${inputs.at}"}
"#;

/// Rows seeded per transaction.
const SEED_CHUNK: u64 = 100_000;
/// From the orchestrators' start to the first due time.
const LEAD: Duration = Duration::from_secs(1);

/// The wall clock moved by a fixed offset.
struct ShiftedClock(chrono::Duration);

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// The seeded rows of one run: ids `<tag>-0000-4000-8000-<n in hex>` (missions) and
/// `…-9000-…` (timers), n = 1..=N, so one run's rows are one primary-key range.
struct Seeded {
    tag: String,
    n: u64,
}

impl Seeded {
    fn mission_range(&self) -> (Uuid, Uuid) {
        let id = |n: u64| {
            Uuid::parse_str(&format!("{}-0000-4000-8000-{n:012x}", self.tag)).expect("valid uuid")
        };
        (id(0), id(0xffff_ffff_ffff))
    }
}

pub(super) async fn run(g: &Global, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let url = g
        .database_url
        .clone()
        .filter(|u| u.starts_with("postgres"))
        .context("the timers bench needs PostgreSQL: set REX_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/rex_bench?sslmode=disable)")?;
    anyhow::ensure!(args.timers > 0, "--timers must be at least 1");
    let g = namespaced(g);
    let store = setup::store(&g, Some(&url)).await?;
    let memory = setup::embedded_broker(&g).await?;
    let broker = || async {
        if g.amqp_url.is_some() {
            setup::amqp(&g).await
        } else {
            Ok(memory.clone())
        }
    };
    let names = rex_workers::Registry::builtin().names();
    let control = broker().await?;
    control.declare(&names).await?;
    let starter = setup::engine(store.clone(), control);
    let version = starter
        .catalog()
        .push(DEFINITION.as_bytes(), None)
        .await?
        .row
        .version;

    // --- seeding (not measured) ---
    let n = args.timers as u64;
    let window = Duration::from_secs_f64(args.due_within.max(0.0));
    println!(
        "rex bench timers on postgresql + {}: {n} timers due within {:.0} s, {} orchestrator(s)",
        if g.amqp_url.is_some() {
            "rabbitmq"
        } else {
            "in-process broker"
        },
        window.as_secs_f64(),
        args.orchestrators
    );
    let t0 = rex_store::to_db_precision(Utc::now());
    let seeded = Seeded {
        tag: Uuid::new_v4().simple().to_string()[..8].to_owned(),
        n,
    };
    let seeding = Instant::now();
    seed(&starter, version, &seeded, t0, window).await?;
    println!(
        "  seeded             {n} missions, steps and timers in {:.1} s (not counted)",
        seeding.elapsed().as_secs_f64()
    );

    // --- firing ---
    let rss_idle = rss_mib("VmRSS:");
    let shift = t0 - chrono::Duration::from_std(LEAD)? - Utc::now();
    let clock: Arc<dyn Clock> = Arc::new(ShiftedClock(shift));
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    for _ in 0..args.orchestrators.max(1) {
        let store = setup::store(&g, Some(&url)).await?;
        let catalog = Catalog::new(store.clone(), setup::validate_options());
        let engine = Engine::new(store, broker().await?, catalog, clock.clone());
        let o = Orchestrator::new(
            engine,
            OrchestratorConfig {
                agents: Vec::new(),
                ..OrchestratorConfig::default()
            },
        );
        tasks.push(tokio::spawn(o.run(shutdown.clone())));
    }
    println!(
        "  rss before firing  {} MiB (orchestrators idle, {n} timers pending)",
        show(rss_idle)
    );
    let began = Instant::now();
    let fired_before = fired_so_far();
    let mut next_report = args.rss_every.max(1) as u64;
    let mut rss_max = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fired = fired_so_far().saturating_sub(fired_before);
        let rss = rss_mib("VmRSS:").unwrap_or(0);
        rss_max = rss_max.max(rss);
        if args.rss_every > 0 && fired >= next_report {
            println!(
                "  {fired:>9} fired after {:6.1} s: rss {rss} MiB",
                began.elapsed().as_secs_f64()
            );
            next_report = (fired / args.rss_every as u64 + 1) * args.rss_every as u64;
        }
        if fired >= n && pending(&store, &seeded).await? == 0 {
            break;
        }
        if let Some(t) = tasks.iter().position(|t| t.is_finished()) {
            let ended = tasks.remove(t).await?;
            anyhow::bail!("an orchestrator stopped during the run: {ended:?}");
        }
    }
    let wall = began.elapsed();
    shutdown.cancel();
    for t in tasks {
        t.await??;
    }

    // --- results, from the database ---
    let r = results(&store, &seeded).await?;
    let first_due = t0;
    let span = (r.last_fired - first_due).num_microseconds().unwrap_or(1) as f64 / 1e6;
    println!();
    println!(
        "bench-timer: {n} timers ({} missions not succeeded)",
        n - r.succeeded
    );
    println!(
        "  fired/s            {:.0}  (last firing − first due: {span:.2} s; due rate {})",
        n as f64 / span.max(1e-6),
        if window.is_zero() {
            "all at once".to_owned()
        } else {
            format!("{:.0}/s", n as f64 / window.as_secs_f64())
        }
    );
    println!(
        "  lateness           p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (fired − due)",
        r.p50 * 1e3,
        r.p99 * 1e3,
        r.max * 1e3
    );
    println!(
        "  rss idle / max     {} / {rss_max} MiB while firing (peak {} MiB)",
        show(rss_idle),
        show(rss_mib("VmHWM:"))
    );
    println!(
        "  wall time          {:.1} s from the orchestrators' start",
        wall.as_secs_f64()
    );

    if !args.keep {
        let cleaning = Instant::now();
        cleanup(&store, &seeded).await?;
        println!(
            "  removed the seeded rows in {:.1} s (--keep keeps them)",
            cleaning.elapsed().as_secs_f64()
        );
    }
    if g.amqp_url.is_some() {
        setup::delete_amqp_topology(&g, &names).await?;
    }
    anyhow::ensure!(
        r.succeeded == n,
        "{} missions did not succeed",
        n - r.succeeded
    );
    anyhow::ensure!(r.fired_twice == 0, "{} timers fired twice", r.fired_twice);
    Ok(ExitCode::SUCCESS)
}

fn show(mib: Option<u64>) -> String {
    mib.map_or("?".into(), |v| v.to_string())
}

/// Timers the engines of this process fired so far (their lateness histogram's count).
fn fired_so_far() -> u64 {
    rex_observability::metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("rex_timer_lateness_seconds_count "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Starts one real mission as the template, then copies its mission, step and timer
/// rows N times in bulk, each with its own due time; drops the template.
async fn seed(
    engine: &Engine,
    version: i32,
    seeded: &Seeded,
    t0: DateTime<Utc>,
    window: Duration,
) -> anyhow::Result<()> {
    let far = Utc::now() + chrono::Duration::days(3650);
    let template = engine
        .start_mission(StartMission {
            definition: "bench-timer".into(),
            version: Some(version),
            input: json!({"at": far.to_rfc3339()}),
            ..StartMission::default()
        })
        .await?
        .id;
    let db = engine.store().conn();
    let step_us = (window.as_micros() as u64 / seeded.n) as i64;
    // g = 1..=N; due(g) = t0 + (g − 1) × step
    let id =
        |kind: &str| format!("(($2 || '-0000-4000-{kind}-') || lpad(to_hex(g), 12, '0'))::uuid");
    let due = "($5::timestamptz + ((g - 1) * $6::bigint) * interval '1 microsecond')";
    let mission_id = id("8000");
    let timer_id = id("9000");
    let missions = format!(
        "INSERT INTO missions (id, definition_id, definition_name, definition_version, status, \
         input, output, error, idempotency_key, trace_context, created_at, updated_at, finished_at) \
         SELECT {mission_id}, m.definition_id, m.definition_name, m.definition_version, m.status, \
         jsonb_build_object('at', to_char({due} AT TIME ZONE 'UTC', \
         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')), NULL, NULL, NULL, NULL, m.created_at, m.updated_at, NULL \
         FROM missions m CROSS JOIN generate_series($3::bigint, $4::bigint) AS g WHERE m.id = $1"
    );
    let steps = format!(
        "INSERT INTO steps (mission_id, step_id, status, attempt, input, output, error, \
         dispatched_at, finished_at, updated_at, retry_base) \
         SELECT {mission_id}, s.step_id, s.status, s.attempt, s.input, s.output, s.error, \
         s.dispatched_at, s.finished_at, s.updated_at, s.retry_base \
         FROM steps s CROSS JOIN generate_series($3::bigint, $4::bigint) AS g WHERE s.mission_id = $1"
    );
    let timers = format!(
        "INSERT INTO timers (id, mission_id, kind, step_id, attempt, due_at, created_at) \
         SELECT {timer_id}, {mission_id}, t.kind, t.step_id, t.attempt, {due}, t.created_at \
         FROM timers t CROSS JOIN generate_series($3::bigint, $4::bigint) AS g WHERE t.mission_id = $1"
    );
    let mut lo = 1;
    while lo <= seeded.n {
        let hi = (lo + SEED_CHUNK - 1).min(seeded.n);
        let values = || {
            vec![
                template.into(),
                seeded.tag.clone().into(),
                (lo as i64).into(),
                (hi as i64).into(),
                t0.into(),
                step_us.into(),
            ]
        };
        let txn = db.begin().await?;
        txn.execute_raw(stmt(&missions, values())).await?;
        txn.execute_raw(stmt(&steps, values())).await?;
        txn.execute_raw(stmt(&timers, values())).await?;
        txn.commit().await?;
        lo = hi + 1;
    }
    for sql in [
        "DELETE FROM timers WHERE mission_id = $1",
        "DELETE FROM steps WHERE mission_id = $1",
        "DELETE FROM missions WHERE id = $1",
    ] {
        db.execute_raw(stmt(sql, vec![template.into()])).await?;
    }
    // A system that accumulated these timers over weeks would have its statistics.
    db.execute_unprepared("ANALYZE timers; ANALYZE missions; ANALYZE steps")
        .await?;
    Ok(())
}

/// Seeded timers not fired yet.
async fn pending(store: &Store, seeded: &Seeded) -> anyhow::Result<i64> {
    let (lo, hi) = seeded.mission_range();
    let row = store
        .conn()
        .query_one_raw(stmt(
            "SELECT count(*) AS n FROM timers WHERE mission_id BETWEEN $1 AND $2",
            vec![lo.into(), hi.into()],
        ))
        .await?
        .context("count returned no row")?;
    Ok(row.try_get::<i64>("", "n")?)
}

struct Results {
    succeeded: u64,
    fired_twice: u64,
    p50: f64,
    p99: f64,
    max: f64,
    last_fired: DateTime<Utc>,
}

async fn results(store: &Store, seeded: &Seeded) -> anyhow::Result<Results> {
    let (lo, hi) = seeded.mission_range();
    let row = store
        .conn()
        .query_one_raw(stmt(
            "SELECT count(*) FILTER (WHERE m.status = 'succeeded') AS succeeded, \
             count(*) FILTER (WHERE s.attempt <> 1) AS fired_twice, \
             percentile_disc(0.5) WITHIN GROUP (ORDER BY l.late) AS p50, \
             percentile_disc(0.99) WITHIN GROUP (ORDER BY l.late) AS p99, \
             max(l.late) AS max, max(s.finished_at) AS last_fired \
             FROM missions m JOIN steps s ON s.mission_id = m.id, \
             LATERAL (SELECT extract(epoch FROM s.finished_at - (m.input->>'at')::timestamptz)::float8 AS late) l \
             WHERE m.id BETWEEN $1 AND $2",
            vec![lo.into(), hi.into()],
        ))
        .await?
        .context("no result row")?;
    Ok(Results {
        succeeded: row.try_get::<i64>("", "succeeded")? as u64,
        fired_twice: row.try_get::<i64>("", "fired_twice")? as u64,
        p50: row.try_get::<Option<f64>>("", "p50")?.unwrap_or(f64::NAN),
        p99: row.try_get::<Option<f64>>("", "p99")?.unwrap_or(f64::NAN),
        max: row.try_get::<Option<f64>>("", "max")?.unwrap_or(f64::NAN),
        last_fired: row
            .try_get::<Option<DateTime<Utc>>>("", "last_fired")?
            .context("no timer fired")?,
    })
}

async fn cleanup(store: &Store, seeded: &Seeded) -> anyhow::Result<()> {
    let (lo, hi) = seeded.mission_range();
    let db = store.conn();
    for sql in [
        "DELETE FROM timers WHERE mission_id BETWEEN $1 AND $2",
        "DELETE FROM steps WHERE mission_id BETWEEN $1 AND $2",
        "DELETE FROM missions WHERE id BETWEEN $1 AND $2",
    ] {
        db.execute_raw(stmt(sql, vec![lo.into(), hi.into()]))
            .await?;
    }
    Ok(())
}
