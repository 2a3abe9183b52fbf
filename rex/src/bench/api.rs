//! `rex bench api`: the HTTP API under a fixed request rate (open loop). Serves the real
//! router on a loopback socket, with an orchestrator and a worker running the started
//! missions (a one-step no-op definition) as in production, then for `--duration`
//! seconds each:
//!
//! 1. `POST /v1/missions` at `--rate` requests per second (each with its own
//!    `Idempotency-Key`);
//! 2. `GET /v1/missions/{id}` at `--rate` per second over the missions just started.
//!
//! With `--api-only` no orchestrator or worker runs: the API is measured alone, as a
//! deployment whose engine processes run elsewhere (the started missions' first tasks
//! wait in their queue, deleted with the run's queues at the end).
//!
//! Requests are sent at their scheduled instants whatever the answers do (open loop), so
//! a slow answer cannot hide the queueing it causes: latency is measured from the
//! scheduled instant to the full response. Prints p50/p95/p99/max per phase, the rate
//! achieved and every non-2xx answer. The per-key rate limit is switched off for the run
//! (it would answer 429 after 100 requests).
//!
//! Backends as the other benches: PostgreSQL with `REX_DATABASE_URL` (else SQLite in a
//! temporary directory), RabbitMQ with `REX_AMQP_URL` (else the in-process broker).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rex_api::{ApiConfig, ApiState, Scope};
use rex_engine::{Orchestrator, OrchestratorConfig};
use rex_workers::{Registry, Worker, WorkerConfig};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{BenchArgs, backend_label, database_url, namespaced, pct};
use crate::cli::Global;
use crate::setup;

const DEFINITION: &str = r#"
name: bench-api
version: 1
inputs:
  n: {type: integer, required: true}
steps:
  - {id: only, agent: noop, action: noop}
"#;

/// Requests in flight at once before the generator reports it cannot keep the rate.
const MAX_IN_FLIGHT: usize = 2_000;

/// One phase's answers.
#[derive(Default)]
struct Samples {
    latencies_ms: Vec<f64>,
    errors: Vec<String>,
    /// How late after its scheduled instant each request was handed to the client:
    /// the load generator's own precision, shown so it can be told from the server's.
    send_lag_ms: Vec<f64>,
}

pub(super) async fn run(g: &Global, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.duration > 0.0, "--duration must be positive");
    let tmp = tempfile::tempdir()?;
    let url = database_url(g, &tmp);
    let g = namespaced(g);
    let store = setup::store(&g, Some(&url)).await?;
    let broker = match g.amqp_url {
        Some(_) => setup::amqp(&g).await?,
        None => setup::embedded_broker(&g).await?,
    };
    let registry = Registry::builtin();
    broker.declare(&registry.names()).await?;
    let engine = setup::engine(store.clone(), broker.clone());
    engine.catalog().push(DEFINITION.as_bytes(), None).await?;

    let shutdown = CancellationToken::new();
    let mut background = JoinSet::new();
    if !args.api_only {
        let orchestrator = Orchestrator::new(engine.clone(), OrchestratorConfig::default());
        let s = shutdown.clone();
        background.spawn(async move {
            if let Err(e) = orchestrator.run(s).await {
                eprintln!("orchestrator failed: {e}");
            }
        });
        let worker = Worker::new(
            store.clone(),
            broker.clone(),
            WorkerConfig {
                concurrency: 64,
                prefetch: 128,
                ..WorkerConfig::default()
            },
        );
        let agents = registry.select(&["noop".to_owned()])?;
        let s = shutdown.clone();
        background.spawn(async move {
            if let Err(e) = worker.run(agents, s).await {
                eprintln!("worker failed: {e}");
            }
        });
    }
    let key = rex_api::create_api_key(
        &store,
        "bench",
        "rex bench api",
        &[Scope::Read, Scope::Write],
    )
    .await?
    .key;
    // By default the limiter runs as in a deployment (checked per request, synced
    // every 250 ms), set far above the rate sent so that it never refuses.
    let config = ApiConfig {
        rate_limit_per_minute: args.api_rate_limit,
        ..ApiConfig::default()
    };
    let state = ApiState::new(store.clone(), engine, broker.clone(), config);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    {
        let s = shutdown.clone();
        background.spawn(async move {
            if let Err(e) = rex_api::serve_on(listener, state, s).await {
                eprintln!("api failed: {e}");
            }
        });
    }
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .timeout(Duration::from_secs(10))
        .build()?;
    let backend = backend_label(&url, &g);
    println!(
        "rex bench api on {backend}: {} requests/s for {} s per phase, served on {base}; {}",
        args.rate,
        args.duration,
        if args.api_only {
            "the API alone (no orchestrator or worker in this process: the missions wait in their queue)"
        } else {
            "an orchestrator and a worker run the missions in this process"
        }
    );

    // warm-up: connections in the pool, the definition cache, prepared statements
    let warm = start_phase(&client, &base, &key, args.rate, 1.0_f64.min(args.duration)).await;
    let (starts, ids) = start_phase(&client, &base, &key, args.rate, args.duration).await;
    report("POST /v1/missions", args, starts);
    let mut ids = ids;
    ids.extend(warm.1);
    anyhow::ensure!(!ids.is_empty(), "no mission was started; nothing to read");
    let gets = get_phase(&client, &base, &key, &ids, args.rate, args.duration).await;
    report("GET /v1/missions/{id}", args, gets);

    shutdown.cancel();
    while background.join_next().await.is_some() {}
    if g.amqp_url.is_some() {
        setup::delete_amqp_topology(&g, &registry.names()).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends `make(i)` at `rate` per second for `duration` seconds, each at its scheduled
/// instant, and waits for every answer.
///
/// The schedule is kept by a thread of its own sleeping with the operating system's
/// timer (tens of microseconds late), not by tokio's timer, whose 1 ms ticks sent each
/// request up to a millisecond after its instant — time the latency, measured from the
/// instant, then counted against the server.
async fn open_loop<F, Fut>(rate: u32, duration: f64, make: F) -> Samples
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let total = (f64::from(rate) * duration).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let began = Instant::now();
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let due = began + interval.mul_f64(i as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if due_tx.send((i, due)).is_err() {
                return;
            }
        }
    });
    let mut requests = JoinSet::new();
    let mut send_lag_ms = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    while let Some((i, due)) = due_rx.recv().await {
        while requests.len() >= MAX_IN_FLIGHT {
            requests.join_next().await;
        }
        send_lag_ms.push(due.elapsed().as_secs_f64() * 1000.0);
        let request = make(i);
        let samples = samples.clone();
        requests.spawn(async move {
            let outcome = request.await;
            let ms = due.elapsed().as_secs_f64() * 1000.0;
            let mut s = samples.lock().await;
            match outcome {
                Ok(()) => s.latencies_ms.push(ms),
                Err(e) => s.errors.push(e),
            }
        });
    }
    while requests.join_next().await.is_some() {}
    let _ = pacer.join();
    let mut samples = Arc::try_unwrap(samples)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    samples.send_lag_ms = send_lag_ms;
    samples
}

async fn start_phase(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    rate: u32,
    duration: f64,
) -> (Samples, Vec<Uuid>) {
    let started = Arc::new(std::sync::Mutex::new(Vec::new()));
    let samples = open_loop(rate, duration, |i| {
        let request = client
            .post(format!("{base}/v1/missions"))
            .bearer_auth(key)
            .header(rex_api::IDEMPOTENCY_KEY, Uuid::new_v4().to_string())
            .json(&json!({"definition": "bench-api", "input": {"n": i}}))
            .send();
        let started = started.clone();
        async move {
            let response = request.await.map_err(|e| format!("request failed: {e}"))?;
            let status = response.status();
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("{status}: unreadable body: {e}"))?;
            if status != reqwest::StatusCode::CREATED {
                return Err(format!("{status}: {body}"));
            }
            let id = body["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("{status}: no id in {body}"))?;
            started.lock().unwrap_or_else(|e| e.into_inner()).push(id);
            Ok(())
        }
    })
    .await;
    let ids = std::mem::take(&mut *started.lock().unwrap_or_else(|e| e.into_inner()));
    (samples, ids)
}

async fn get_phase(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    ids: &[Uuid],
    rate: u32,
    duration: f64,
) -> Samples {
    open_loop(rate, duration, |i| {
        let id = ids[(i as usize) % ids.len()];
        let request = client
            .get(format!("{base}/v1/missions/{id}"))
            .bearer_auth(key)
            .send();
        async move {
            let response = request.await.map_err(|e| format!("request failed: {e}"))?;
            let status = response.status();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| format!("{status}: unreadable body: {e}"))?;
            if status != reqwest::StatusCode::OK {
                return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
            }
            Ok(())
        }
    })
    .await
}

fn report(name: &str, args: &BenchArgs, mut s: Samples) {
    let answered = s.latencies_ms.len();
    let l = &mut s.latencies_ms;
    println!();
    println!("{name}: {answered} answered 2xx, {} errors", s.errors.len());
    println!(
        "  achieved rate      {:.0} requests/s",
        (answered + s.errors.len()) as f64 / args.duration
    );
    println!(
        "  latency p50 / p95 / p99 / max   {:.2} / {:.2} / {:.2} / {:.2} ms",
        pct(l, 50.0),
        pct(l, 95.0),
        pct(l, 99.0),
        pct(l, 100.0)
    );
    let lag = &mut s.send_lag_ms;
    println!(
        "  generator send lag p50 / p95 / max   {:.3} / {:.3} / {:.3} ms (included above)",
        pct(lag, 50.0),
        pct(lag, 95.0),
        pct(lag, 100.0)
    );
    let mut errors = s.errors;
    errors.sort();
    errors.dedup();
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
}
