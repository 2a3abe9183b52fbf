//! The production processes: `rex migrate`, `rex orchestrator`, `rex worker`, `rex api`.

use std::process::ExitCode;
use std::time::Duration;

use rex_engine::{Orchestrator, OrchestratorConfig};
use rex_workers::{Worker, WorkerConfig};
use tracing::info;

use crate::cli::{ApiArgs, ApiKeysCommand, Global, OrchestratorArgs, WorkerArgs};
use crate::setup;

pub async fn migrate(g: &Global) -> anyhow::Result<ExitCode> {
    setup::store(g, None).await?;
    println!("database is up to date");
    Ok(ExitCode::SUCCESS)
}

pub async fn orchestrator(g: &Global, args: OrchestratorArgs) -> anyhow::Result<ExitCode> {
    let shutdown = setup::shutdown_on_signal();
    let store = setup::store(g, None).await?;
    let broker = setup::amqp(g).await?;
    broker.declare(&setup::known_agents()).await?;
    setup::serve_http(
        g,
        "0.0.0.0:9464",
        store.clone(),
        broker.clone(),
        shutdown.clone(),
    )
    .await;
    let engine = setup::engine(store, broker);
    let config = OrchestratorConfig {
        prefetch: args.prefetch,
        batch_size: args.batch_size,
        relay_grace: Duration::from_millis(args.relay_grace_ms),
        agents: setup::known_agents(),
        ..OrchestratorConfig::default()
    };
    Orchestrator::new(engine, config).run(shutdown).await?;
    info!("orchestrator stopped");
    Ok(ExitCode::SUCCESS)
}

pub async fn worker(g: &Global, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let shutdown = setup::shutdown_on_signal();
    let store = setup::store(g, None).await?;
    let broker = setup::amqp(g).await?;
    let engine = setup::engine(store.clone(), broker.clone());
    let agents =
        setup::registry(Some(store.clone()), Some(engine.clone()))?.select(&args.agents)?;
    // The worker serving `outreach` also processes the provider webhooks the API took.
    if args.agents.iter().any(|a| a == "outreach") {
        broker.declare(&[]).await?;
        let concurrency = u16::try_from(args.concurrency).unwrap_or(u16::MAX);
        setup::spawn_inbox(
            store.clone(),
            engine,
            broker.clone(),
            concurrency,
            shutdown.clone(),
        )?;
    }
    setup::serve_http(
        g,
        "0.0.0.0:9465",
        store.clone(),
        broker.clone(),
        shutdown.clone(),
    )
    .await;
    let config = WorkerConfig {
        concurrency: args.concurrency,
        prefetch: args
            .prefetch
            .unwrap_or_else(|| u16::try_from(args.concurrency * 2).unwrap_or(u16::MAX)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        lease: Duration::from_secs(args.lease_secs.max(1)),
        ..WorkerConfig::default()
    };
    Worker::new(store, broker, config)
        .run(agents, shutdown)
        .await?;
    info!("worker stopped");
    Ok(ExitCode::SUCCESS)
}

/// The key that checks one-click unsubscribe tokens: `REX_UNSUBSCRIBE_SECRET`, the one
/// the outreach agent signs with. Unset, the development key is used — and refused when
/// live email is configured (`SENDGRID_API_KEY`), as the agent refuses it.
fn unsubscribe_secret() -> anyhow::Result<rex_domain::unsubscribe::SigningKey> {
    use rex_domain::unsubscribe::{SigningKey, check_secret};
    match std::env::var("REX_UNSUBSCRIBE_SECRET") {
        Ok(secret) => {
            check_secret(&secret)
                .map_err(|why| anyhow::anyhow!("REX_UNSUBSCRIBE_SECRET: {why}"))?;
            Ok(SigningKey::new(secret))
        }
        Err(_) if std::env::var_os("SENDGRID_API_KEY").is_some() => anyhow::bail!(
            "REX_UNSUBSCRIBE_SECRET is not set while live email is (SENDGRID_API_KEY): \
             unsubscribe links must be signed with a secret of your own"
        ),
        Err(_) => {
            tracing::warn!(
                "REX_UNSUBSCRIBE_SECRET is not set: unsubscribe tokens use the development key"
            );
            Ok(SigningKey::development())
        }
    }
}

/// `rex api`: the HTTP API on the production backends until SIGTERM.
pub async fn api(g: &Global, args: ApiArgs) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    let broker = setup::amqp(g).await?;
    broker.declare(&setup::known_agents()).await?;
    let engine = setup::engine(store.clone(), broker.clone());
    let config = rex_api::ApiConfig {
        rate_limit_per_minute: args.rate_limit,
        cors_origins: args.cors_origins,
        behind_tls: args.behind_tls,
        agents: setup::known_agents(),
        unsubscribe_secret: unsubscribe_secret()?,
        public_url: std::env::var("REX_PUBLIC_URL")
            .ok()
            .filter(|u| !u.trim().is_empty()),
        ..rex_api::ApiConfig::default()
    };
    let addr: std::net::SocketAddr = args
        .addr
        .parse()
        .map_err(|e| anyhow::anyhow!("--addr {:?}: {e}", args.addr))?;
    // Webhook keys: a tenant's own (its secrets, when they are enabled), else
    // SENDGRID_WEBHOOK_PUBLIC_KEY, TWILIO_AUTH_TOKEN and CALENDLY_WEBHOOK_SIGNING_KEY; a
    // provider without one is refused.
    let env_keys = rex_api::EnvWebhookSecrets::from_env().into_arc();
    let mut state = rex_api::ApiState::new(store, engine, broker, config)
        .with_webhook_secrets(env_keys.clone());
    // tenant secrets: a malformed REX_SECRETS_KEYS stops the start; none disables them
    match rex_domain_store::keyring::Keyring::from_env() {
        Ok(keyring) => {
            info!(
                active_key = keyring.active_key_id(),
                "tenant secrets enabled"
            );
            state = state.with_keyring(keyring);
            // a tenant's own webhook keys first, the environment's otherwise
            if let Some(ring) = state.keyring.clone() {
                let keys = rex_api::TenantWebhookSecrets::new(state.store.clone(), ring, env_keys);
                state = state.with_webhook_secrets(keys.into_arc());
            }
        }
        Err(rex_domain_store::keyring::KeyringError::Disabled) => {
            tracing::warn!("REX_SECRETS_KEYS is not set: /v1/secrets answers 503");
        }
        Err(e) => return Err(e.into()),
    }
    info!(%addr, "API listening");
    rex_api::serve(addr, state, setup::shutdown_on_signal()).await?;
    info!("API stopped");
    Ok(ExitCode::SUCCESS)
}

/// `rex api-keys …`.
pub async fn api_keys(g: &Global, cmd: ApiKeysCommand) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    match cmd {
        ApiKeysCommand::Create {
            tenant,
            name,
            scopes,
        } => {
            let scopes = scopes
                .split(',')
                .map(|s| s.trim().parse::<rex_api::Scope>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
            let created = rex_api::create_api_key(&store, &tenant, &name, &scopes).await?;
            println!("{}", created.key);
            eprintln!(
                "key {} for tenant {tenant}: shown once, store it now",
                created.id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
