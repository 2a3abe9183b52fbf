//! The embedded mode: every component in this process, on SQLite and the in-process
//! broker unless a database or RabbitMQ URL is configured. Same code path as production.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rex_agents::simulation::SkipClock;
use rex_broker::Broker;
use rex_core::validate::load;
use rex_engine::{Engine, Orchestrator, OrchestratorConfig, StartMission};
use rex_store::Store;
use rex_workers::{Worker, WorkerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{DevArgs, Global, RunArgs};
use crate::{input, render, setup};

/// The orchestrator and the built-in agents' workers, running in this process.
pub struct Embedded {
    pub engine: Engine,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Embedded {
    pub async fn start(
        store: Store,
        broker: Arc<dyn Broker>,
        concurrency: usize,
        shutdown: CancellationToken,
        clock: Option<Arc<SkipClock>>,
    ) -> anyhow::Result<Self> {
        // a simulated run skips to the next timer: fire it without waiting out a poll
        let timer_poll = Duration::from_millis(if clock.is_some() { 5 } else { 50 });
        let engine = match &clock {
            Some(clock) => setup::engine_with_clock(store.clone(), broker.clone(), clock.clone()),
            None => setup::engine(store.clone(), broker.clone()),
        };
        let simulated = clock.is_some();
        let registry =
            setup::registry_with_clock(Some(store.clone()), Some(engine.clone()), clock)?;
        broker.declare(&registry.names()).await?;
        let orchestrator = Orchestrator::new(
            engine.clone(),
            OrchestratorConfig {
                relay_grace: Duration::from_secs(1),
                timer_poll,
                agents: registry.names(),
                ..OrchestratorConfig::default()
            },
        );
        let worker = Worker::new(
            store.clone(),
            broker.clone(),
            WorkerConfig {
                concurrency,
                prefetch: u16::try_from(concurrency * 2).unwrap_or(u16::MAX),
                shutdown_grace: Duration::from_secs(10),
                ..WorkerConfig::default()
            },
        );
        let agents = registry.select(&registry.names())?;
        // provider webhooks taken by an API on this broker (a simulated run has none)
        let inbox = if simulated {
            None
        } else {
            Some(setup::spawn_inbox(
                store.clone(),
                engine.clone(),
                broker.clone(),
                8,
                shutdown.clone(),
            )?)
        };
        let (s1, s2) = (shutdown.clone(), shutdown.clone());
        let mut tasks = vec![
            tokio::spawn(async move {
                if let Err(err) = orchestrator.run(s1).await {
                    tracing::error!(error = %err, "orchestrator stopped");
                }
            }),
            tokio::spawn(async move {
                if let Err(err) = worker.run(agents, s2).await {
                    tracing::error!(error = %err, "worker stopped");
                }
            }),
        ];
        tasks.extend(inbox);
        Ok(Self {
            engine,
            shutdown,
            tasks,
        })
    }

    /// Stops every component and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// `rex run FILE`: one mission, start to finish, with a progress bar and a timeline.
pub async fn run_file(g: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {name}"))?;
    let workflow = match load(&bytes, Some(&name), &setup::validate_options()) {
        Ok((_, wf)) => wf,
        Err(err) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(2));
        }
    };
    let input = input::parse(&args.input)?;

    // A throwaway database unless one is configured: `rex run` leaves nothing behind.
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let url = match &g.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}?mode=rwc", tmp.path().join("rex.db").display()),
    };
    let store = setup::store(g, Some(&url)).await?;
    let broker = setup::embedded_broker(g).await?;
    let embedded = Embedded::start(
        store.clone(),
        broker,
        args.concurrency,
        CancellationToken::new(),
        None,
    )
    .await?;
    let engine = embedded.engine.clone();
    let registered = engine.catalog().push(&bytes, Some(&name)).await?;
    let mut updates = engine.subscribe();
    let started = engine
        .start_mission(StartMission {
            definition: registered.row.name.clone(),
            version: Some(registered.row.version),
            input,
            idempotency_key: None,
        })
        .await?;

    let bar = ProgressBar::new(workflow.steps.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} steps  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mission = loop {
        tokio::select! {
            update = updates.recv() => {
                if let Ok(u) = update && u.mission_id == started.id
                    && let Some(step) = &u.step_id {
                    bar.set_message(format!("{step}: {} (attempt {})", u.status, u.attempt));
                }
            }
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(deadline) => {
                bar.abandon_with_message("timed out");
                embedded.stop().await;
                anyhow::bail!("mission {} did not finish within {} s", started.id, args.timeout_secs);
            }
        }
        let steps = store.mission_steps(started.id).await?;
        bar.set_position(steps.iter().filter(|s| s.status == "succeeded").count() as u64);
        let mission = store
            .get_mission(started.id)
            .await?
            .context("mission vanished")?;
        if mission.is_finished() {
            break mission;
        }
    };
    bar.finish_and_clear();
    embedded.stop().await;

    let steps = store.mission_steps(started.id).await?;
    if args.json {
        println!("{:#}", render::mission_json(&mission, &steps));
    } else {
        let order: Vec<String> = workflow.steps.iter().map(|s| s.id.clone()).collect();
        let attempts = store.mission_attempts(started.id).await?;
        print!("{}", render::timeline(&mission, &steps, &attempts, &order));
        if let Some(output) = &mission.output {
            println!("output:\n{output:#}");
        }
    }
    Ok(if mission.status == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `rex dev`: every component in one process until Ctrl-C.
pub async fn dev(g: &Global, args: DevArgs) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    let broker = setup::embedded_broker(g).await?;
    let shutdown = setup::shutdown_on_signal();
    setup::serve_http(
        g,
        "127.0.0.1:9464",
        store.clone(),
        broker.clone(),
        shutdown.clone(),
    )
    .await;
    let embedded = Embedded::start(store, broker, args.concurrency, shutdown.clone(), None).await?;
    for file in &args.files {
        let name = file.display().to_string();
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
        let reg = embedded.engine.catalog().push(&bytes, Some(&name)).await?;
        tracing::info!(definition = %reg.row.name, version = reg.row.version, "definition ready");
    }
    tracing::info!(
        "rex dev is running (orchestrator + workers for {}); start missions with `rex missions start NAME`; Ctrl-C stops",
        setup::known_agents().join(", ")
    );
    shutdown.cancelled().await;
    embedded.stop().await;
    Ok(ExitCode::SUCCESS)
}
