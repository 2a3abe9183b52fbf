//! `rex bench`: runs N missions of a K-step chain and of a fan-out/fan-in DAG with
//! no-op agents on the configured backends, a fixed number of missions in flight
//! (closed loop), and prints throughput, latencies and memory. `rex bench timers` fires
//! N pending durable timers instead (see [`timers`]); `rex bench api` loads the HTTP API
//! at a fixed request rate (see [`api`]); `rex bench webhooks` measures how many
//! provider events per second the API takes in (see [`webhooks`]); `rex bench tracing`
//! runs the missions with the trace exporter off and on and reports the difference
//! (see [`trace_overhead`]).
//!
//! Every step is persistent, confirmed and committed exactly as in production: the
//! orchestrators and workers are the real components, each with its own database pool
//! and broker connection, run in this process so one command measures them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use rex_engine::{Engine, LatencyProbe, Orchestrator, OrchestratorConfig, StartMission};
use rex_workers::{Registry, Worker, WorkerConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cli::Global;
use crate::setup;

mod api;
mod otlp_receiver;
mod timers;
mod trace_overhead;
mod webhooks;

/// Missions run per shape before measuring (connections, caches, the broker's queues).
const WARM_UP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Missions of no-op steps, a fixed number in flight (`--shape`).
    Missions,
    /// `--timers` pending durable timers in PostgreSQL, fired by the orchestrator(s).
    Timers,
    /// The HTTP API at `--rate` requests/s: mission starts, then mission reads.
    Api,
    /// Signed SendGrid event batches posted to the API's webhook by `--connections`
    /// senders for `--duration` seconds.
    Webhooks,
    /// The missions scenario with the OTLP trace exporter off, then on (exporting to
    /// a receiver in this process), `--rounds` times each: the cost of tracing.
    Tracing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// K no-op steps one after the other.
    Chain,
    /// One root, `--width` parallel steps, one join.
    Fanout,
    /// Both, one after the other.
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Scenario::Missions)]
    pub scenario: Scenario,
    /// Missions per shape.
    #[arg(long, default_value_t = 2000)]
    pub missions: usize,
    /// Steps of the chain.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Parallel steps of the fan-out.
    #[arg(long, default_value_t = 8)]
    pub width: usize,
    #[arg(long, value_enum, default_value_t = Shape::Both)]
    pub shape: Shape,
    /// Missions in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Orchestrators (each with its own pool and broker connection).
    #[arg(long, default_value_t = 1)]
    pub orchestrators: usize,
    /// Worker instances (each with its own pool and broker connection).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Concurrency of each worker instance.
    #[arg(long, default_value_t = 64)]
    pub worker_concurrency: usize,
    /// Run the workers as this many separate `rex worker` processes instead of inside
    /// the bench (needs RabbitMQ and a shared database: REX_AMQP_URL, REX_DATABASE_URL).
    #[arg(long, default_value_t = 0)]
    pub worker_processes: usize,
    /// Print the process's resident memory each time this many more missions finished
    /// (timers: fired) (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub rss_every: usize,
    /// Timers scenario: pending timers to seed (each a mission waiting on it).
    #[arg(long, default_value_t = 100_000)]
    pub timers: usize,
    /// Timers scenario: their due times are spread evenly over this many seconds (0:
    /// all due at the same instant, which measures the maximum firing rate).
    #[arg(long, default_value_t = 0.0)]
    pub due_within: f64,
    /// Timers scenario: leave the seeded rows in the database afterwards.
    #[arg(long)]
    pub keep: bool,
    /// API scenario: requests per second, sent on schedule (open loop).
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// API and webhooks scenarios: seconds of each phase.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// API scenario: serve the API alone, as a deployment whose orchestrators and
    /// workers run in other processes (the started missions wait in their queue),
    /// instead of running an orchestrator and a worker in this process.
    #[arg(long)]
    pub api_only: bool,
    /// API scenario: the API's rate limit per key per minute (0: off). The default is
    /// far above any rate sent, so the limiter runs as deployed without refusing.
    #[arg(long, default_value_t = 10_000_000)]
    pub api_rate_limit: u32,
    /// Webhooks scenario: events per SendGrid request.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Webhooks scenario: senders posting at once (closed loop).
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Missions scenario: also write the figures of each shape to this file, as JSON.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Tracing scenario: runs of each mode (off, on), alternated to spread drift in
    /// the machine's load over both.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
}

pub async fn run(g: &Global, args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.scenario {
        Scenario::Timers => return timers::run(g, &args).await,
        Scenario::Api => return api::run(g, &args).await,
        Scenario::Webhooks => return webhooks::run(g, &args).await,
        Scenario::Tracing => return trace_overhead::run(g, &args).await,
        Scenario::Missions => {}
    }
    let tmp = tempfile::tempdir()?;
    let url = database_url(g, &tmp);
    let g = namespaced(g);
    let store = setup::store(&g, Some(&url)).await?;
    let backend = backend_label(&url, &g);
    let memory = setup::embedded_broker(&g).await?;
    let broker = || async {
        if g.amqp_url.is_some() {
            setup::amqp(&g).await
        } else {
            Ok(memory.clone())
        }
    };
    let registry = Registry::builtin();
    let control = broker().await?;
    control.declare(&registry.names()).await?;
    let starter = setup::engine(setup::store(&g, Some(&url)).await?, control);

    let shutdown = CancellationToken::new();
    let probe = LatencyProbe::default();
    let completions = Completions::default();
    let mut tasks = Vec::new();
    for _ in 0..args.orchestrators {
        let engine = setup::engine(setup::store(&g, Some(&url)).await?, broker().await?);
        completions.follow(&engine);
        let o = Orchestrator::new(engine, OrchestratorConfig::default()).with_probe(probe.clone());
        tasks.push(tokio::spawn(o.run(shutdown.clone())));
    }
    let mut worker_tasks = Vec::new();
    let mut children = Vec::new();
    if args.worker_processes > 0 {
        anyhow::ensure!(
            g.amqp_url.is_some() && !url.starts_with("sqlite"),
            "--worker-processes needs RabbitMQ (REX_AMQP_URL) and PostgreSQL (REX_DATABASE_URL)"
        );
        let exe = std::env::current_exe()?;
        for _ in 0..args.worker_processes {
            let child = std::process::Command::new(&exe)
                .args(["worker", "--agent", "noop", "--http-addr", "off"])
                .arg("--concurrency")
                .arg(args.worker_concurrency.to_string())
                .env("REX_DATABASE_URL", &url)
                .env("REX_AMQP_URL", g.amqp_url.as_deref().unwrap_or_default())
                .env("REX_QUEUE_PREFIX", &g.queue_prefix)
                .env("REX_LOG", "warn")
                .spawn()
                .context("starting a `rex worker` process")?;
            children.push(child);
        }
    }
    for _ in 0..if args.worker_processes > 0 {
        0
    } else {
        args.workers
    } {
        let w = Worker::new(
            setup::store(&g, Some(&url)).await?,
            broker().await?,
            WorkerConfig {
                concurrency: args.worker_concurrency,
                prefetch: u16::try_from(args.worker_concurrency * 2).unwrap_or(u16::MAX),
                ..WorkerConfig::default()
            },
        );
        let agents = registry.select(&["noop".to_owned()])?;
        let s = shutdown.clone();
        worker_tasks.push(tokio::spawn(async move { w.run(agents, s).await }));
    }

    let workers = if args.worker_processes > 0 {
        format!("{} worker process(es)", args.worker_processes)
    } else {
        format!("{} in-process worker(s)", args.workers)
    };
    println!(
        "rex bench on {backend}: {} orchestrator(s), {workers} × {}, {} missions in flight",
        args.orchestrators, args.worker_concurrency, args.concurrency
    );
    let shapes: &[Shape] = match args.shape {
        Shape::Both => &[Shape::Chain, Shape::Fanout],
        Shape::Chain => &[Shape::Chain],
        Shape::Fanout => &[Shape::Fanout],
    };
    let mut reports = Vec::new();
    for &shape in shapes {
        let (name, yaml, steps) = definition(shape, &args);
        let version = starter
            .catalog()
            .push(yaml.as_bytes(), None)
            .await?
            .row
            .version;
        // Warm-up: connections, caches, the broker's queues.
        drive(
            &starter,
            &completions,
            (&name, version),
            WARM_UP.min(args.missions),
            args.concurrency,
            0,
        )
        .await?;
        probe.drain();
        let began = Instant::now();
        let ids = drive(
            &starter,
            &completions,
            (&name, version),
            args.missions,
            args.concurrency,
            args.rss_every,
        )
        .await?;
        let wall = began.elapsed();
        let mut mission_ms = Vec::with_capacity(ids.len());
        let mut failed = 0;
        for id in &ids {
            let m = store.get_mission(*id).await?.context("mission vanished")?;
            if m.status != "succeeded" {
                failed += 1;
            }
            if let Some(f) = m.finished_at {
                mission_ms.push((f - m.created_at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
        }
        let mut dispatch_ms: Vec<f64> = probe
            .drain()
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        let figures = Figures {
            name,
            missions: ids.len(),
            steps,
            failed,
            wall_s: wall.as_secs_f64(),
            dispatch_ms: [50.0, 95.0, 99.0].map(|p| pct(&mut dispatch_ms, p)),
            mission_ms: [50.0, 99.0].map(|p| pct(&mut mission_ms, p)),
        };
        figures.print();
        reports.push(figures);
        if failed > 0 {
            anyhow::bail!("{failed} missions did not succeed");
        }
    }
    shutdown.cancel();
    for t in tasks {
        t.await??;
    }
    for t in worker_tasks {
        t.await??;
    }
    for mut child in children {
        // SIGTERM: the worker finishes what it holds and exits.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
    }
    if g.amqp_url.is_some() {
        // This run's queues served their purpose.
        setup::delete_amqp_topology(&g, &registry.names()).await?;
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&reports)?)
            .with_context(|| format!("writing the report {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What one shape's measured run gave: printed, and written by `--report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// The definition's name (`bench-chain-3`, `bench-fanout-8`).
    pub name: String,
    pub missions: usize,
    /// Steps per mission.
    pub steps: usize,
    /// Missions that did not succeed.
    pub failed: usize,
    pub wall_s: f64,
    /// Result consumed → next tasks confirmed: p50, p95, p99.
    pub dispatch_ms: [f64; 3],
    /// Mission created → finished: p50, p99.
    pub mission_ms: [f64; 2],
}

impl Figures {
    pub fn steps_per_s(&self) -> f64 {
        (self.missions * self.steps) as f64 / self.wall_s
    }

    pub fn missions_per_s(&self) -> f64 {
        self.missions as f64 / self.wall_s
    }

    fn print(&self) {
        let [d50, d95, d99] = self.dispatch_ms;
        let [m50, m99] = self.mission_ms;
        println!();
        println!(
            "{}: {} missions × {} steps ({} not succeeded)",
            self.name, self.missions, self.steps, self.failed
        );
        println!("  wall time          {:.2} s", self.wall_s);
        println!("  steps/s            {:.0}", self.steps_per_s());
        println!("  missions/s         {:.1}", self.missions_per_s());
        println!(
            "  dispatch latency   p50 {d50:.2} ms  p95 {d95:.2} ms  p99 {d99:.2} ms  (result consumed → next tasks confirmed)"
        );
        println!("  mission latency    p50 {m50:.2} ms  p99 {m99:.2} ms  (created → finished)");
        println!(
            "  rss now / peak     {} / {} MiB",
            rss_mib("VmRSS:").map_or("?".into(), |v| v.to_string()),
            rss_mib("VmHWM:").map_or("?".into(), |v| v.to_string())
        );
    }
}

fn definition(shape: Shape, args: &BenchArgs) -> (String, String, usize) {
    let mut yaml = String::new();
    let (name, steps) = match shape {
        Shape::Chain | Shape::Both => {
            let name = format!("bench-chain-{}", args.steps);
            yaml.push_str(&format!("name: {name}\nversion: 1\nsteps:\n"));
            for i in 0..args.steps {
                let deps = if i == 0 {
                    String::new()
                } else {
                    format!(", depends_on: [s{}]", i - 1)
                };
                yaml.push_str(&format!(
                    "  - {{id: s{i}, agent: noop, action: noop{deps}}}\n"
                ));
            }
            (name, args.steps)
        }
        Shape::Fanout => {
            let name = format!("bench-fanout-{}", args.width);
            yaml.push_str(&format!("name: {name}\nversion: 1\nsteps:\n"));
            yaml.push_str("  - {id: root, agent: noop, action: noop}\n");
            let mut branches = Vec::new();
            for i in 0..args.width {
                yaml.push_str(&format!(
                    "  - {{id: b{i}, agent: noop, action: noop, depends_on: [root]}}\n"
                ));
                branches.push(format!("b{i}"));
            }
            yaml.push_str(&format!(
                "  - {{id: join, agent: noop, action: noop, depends_on: [{}]}}\n",
                branches.join(", ")
            ));
            (name, args.width + 2)
        }
    };
    (name, yaml, steps)
}

/// Starts `n` missions keeping `concurrency` in flight; returns their ids. Finished
/// driver tasks are reaped as they end, so the driver's own memory stays flat however
/// many missions run (a finished task not yet joined keeps its whole future allocated).
async fn drive(
    engine: &Engine,
    completions: &Completions,
    (definition, version): (&str, i32),
    n: usize,
    concurrency: usize,
    rss_every: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let mut running = tokio::task::JoinSet::new();
    let mut ids = Vec::with_capacity(n);
    let reap = |ids: &mut Vec<Uuid>, id: Uuid| {
        ids.push(id);
        if rss_every > 0 && ids.len().is_multiple_of(rss_every) {
            println!(
                "  {} missions finished: rss {} MiB",
                ids.len(),
                rss_mib("VmRSS:").map_or("?".into(), |v| v.to_string())
            );
        }
    };
    for _ in 0..n {
        while running.len() >= concurrency.max(1) {
            if let Some(done) = running.join_next().await {
                reap(&mut ids, done??);
            }
        }
        let engine = engine.clone();
        let completions = completions.clone();
        let definition = definition.to_owned();
        running.spawn(async move {
            let started = engine
                .start_mission(StartMission {
                    definition,
                    version: Some(version),
                    input: json!({}),
                    ..StartMission::default()
                })
                .await?;
            completions.wait(engine.store(), started.id).await?;
            anyhow::Ok(started.id)
        });
    }
    while let Some(done) = running.join_next().await {
        reap(&mut ids, done??);
    }
    Ok(ids)
}

/// Wakes the waiter of a mission when an orchestrator commits its end.
#[derive(Clone, Default)]
struct Completions {
    inner: Arc<Mutex<CompletionState>>,
}

#[derive(Default)]
struct CompletionState {
    waiting: HashMap<Uuid, oneshot::Sender<()>>,
    /// Finished before anyone waited for them.
    early: HashSet<Uuid>,
}

impl Completions {
    fn follow(&self, engine: &Engine) {
        let mut updates = engine.subscribe();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match updates.recv().await {
                    Ok(u)
                        if u.step_id.is_none()
                            && rex_store::missions::status::is_finished(&u.status) =>
                    {
                        let mut s = this.inner.lock().unwrap_or_else(|e| e.into_inner());
                        match s.waiting.remove(&u.mission_id) {
                            Some(tx) => {
                                let _ = tx.send(());
                            }
                            None => {
                                s.early.insert(u.mission_id);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {} // waiters poll as well
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    async fn wait(&self, store: &rex_store::Store, id: Uuid) -> anyhow::Result<()> {
        let rx = {
            let mut s = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if s.early.remove(&id) {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            s.waiting.insert(id, tx);
            rx
        };
        let mut rx = rx;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), &mut rx).await {
                Ok(_) => return Ok(()),
                Err(_) => {
                    // A missed notification (lagging receiver): ask the database.
                    let m = store.get_mission(id).await?.context("mission vanished")?;
                    if m.is_finished() {
                        self.inner
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .waiting
                            .remove(&id);
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// `REX_DATABASE_URL`, else a SQLite database in `tmp` (gone with it).
fn database_url(g: &Global, tmp: &tempfile::TempDir) -> String {
    match &g.database_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            tmp.path().join("bench.db").display()
        ),
    }
}

/// `g` with a fresh namespace of queues for this run (`{prefix}-bench-{random}`).
fn namespaced(g: &Global) -> Global {
    Global {
        queue_prefix: format!(
            "{}-bench-{}",
            g.queue_prefix,
            &Uuid::new_v4().simple().to_string()[..8]
        ),
        ..g.clone()
    }
}

/// "postgresql + rabbitmq" and the like, for the figures' heading.
fn backend_label(database_url: &str, g: &Global) -> String {
    let database = if database_url.starts_with("postgres") {
        "postgresql"
    } else {
        "sqlite"
    };
    let broker = if g.amqp_url.is_some() {
        "rabbitmq"
    } else {
        "in-process broker"
    };
    format!("{database} + {broker}")
}

fn pct(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// A line of /proc/self/status in MiB (Linux only).
fn rss_mib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
