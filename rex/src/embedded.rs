//! The embedded mode: every component in this process, on SQLite and the in-process
//! broker unless a database or RabbitMQ URL is configured. Same code path as production.
//! `rex dev` also serves the API and the command center (`--api-addr`, default
//! 127.0.0.1:8080) on the same engine, and makes a dev tenant key on its first start.

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
    let embedded = Embedded::start(
        store.clone(),
        broker.clone(),
        args.concurrency,
        shutdown.clone(),
        None,
    )
    .await?;
    if args.api_addr != "off" {
        serve_api(
            &args,
            store,
            embedded.engine.clone(),
            broker,
            shutdown.clone(),
        )
        .await?;
    }
    for file in &args.files {
        let name = file.display().to_string();
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
        let reg = embedded.engine.catalog().push(&bytes, Some(&name)).await?;
        tracing::info!(definition = %reg.row.name, version = reg.row.version, "definition ready");
    }
    tracing::info!(
        "rex dev is running (orchestrator + workers for {}); start missions with `rex missions start NAME` or from the command center; Ctrl-C stops",
        setup::known_agents().join(", ")
    );
    shutdown.cancelled().await;
    embedded.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// The API and the command center on `args.api_addr`, over the embedded engine, with a
/// key for `args.dev_tenant` created (and printed) on the first start.
async fn serve_api(
    args: &DevArgs,
    store: Store,
    engine: Engine,
    broker: Arc<dyn Broker>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&args.api_addr)
        .await
        .with_context(|| format!("--api-addr {}: cannot listen", args.api_addr))?;
    let addr = listener.local_addr()?;
    dev_key(&store, &args.dev_tenant).await?;
    let config = rex_api::ApiConfig {
        rate_limit_per_minute: args.api_rate_limit,
        agents: setup::known_agents(),
        ..rex_api::ApiConfig::default()
    };
    // provider webhooks and tenant secrets as `rex api` takes them, when configured
    let mut state = rex_api::ApiState::new(store, engine, broker, config)
        .with_webhook_secrets(rex_api::EnvWebhookSecrets::from_env().into_arc());
    match rex_domain_store::keyring::Keyring::from_env() {
        Ok(keyring) => state = state.with_keyring(keyring),
        Err(rex_domain_store::keyring::KeyringError::Disabled) => {}
        Err(e) => return Err(e.into()),
    }
    tokio::spawn(async move {
        if let Err(err) = rex_api::serve_on(listener, state, shutdown).await {
            tracing::error!(error = %err, "api stopped");
        }
    });
    eprintln!("command center: http://{addr}/ui/  (API: http://{addr}/v1, /openapi.json)");
    Ok(())
}

/// Creates a key (read, write, admin) for `tenant` when it has none yet, and prints it:
/// a key is shown once, so later starts print how to make another.
async fn dev_key(store: &Store, tenant: &str) -> anyhow::Result<()> {
    use rex_api::Scope;
    let existing = rex_api::list_api_keys(store, tenant).await?;
    if existing.iter().any(|k| k.revoked_at.is_none()) {
        eprintln!(
            "sign in with the key printed at the first start, or make one: \
             rex api-keys create --tenant {tenant} --name me --scopes read,write,admin"
        );
        return Ok(());
    }
    let created = rex_api::create_api_key(
        store,
        tenant,
        "rex dev",
        &[Scope::Read, Scope::Write, Scope::Admin],
    )
    .await?;
    eprintln!(
        "dev API key for tenant {tenant} (shown once; sign in to the command center with it):\n{}",
        created.key
    );
    Ok(())
}
