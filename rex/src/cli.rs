//! Command-line surface. Every flag has an environment variable where it configures a
//! deployment; the defaults run the embedded mode with nothing installed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use rex_observability::LogFormat;

/// The embedded database used when `REX_DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://rex.db?mode=rwc";
/// RabbitMQ on the local machine, for the production processes.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Debug, Parser)]
#[command(
    name = "rex",
    version,
    about = "Rex: durable workflow missions on RabbitMQ, checkpointed in PostgreSQL",
    long_about = "Rex runs workflow definitions (DAGs of steps) as durable missions. \
                  `rex run FILE` runs one mission in-process with nothing installed; \
                  `rex orchestrator` and `rex worker` are the production processes."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Database: postgres://user@host/db or sqlite://path?mode=rwc.
    /// Default: sqlite://rex.db?mode=rwc (a temporary file for `rex run`).
    #[arg(long, env = "REX_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// RabbitMQ URL. Unset: `rex run`/`rex dev` use the in-process broker, and
    /// `rex orchestrator`/`rex worker` use amqp://guest:guest@127.0.0.1:5672/%2f.
    #[arg(long, env = "REX_AMQP_URL", global = true)]
    pub amqp_url: Option<String>,
    /// Prefix of every exchange and queue name (isolates deployments on one vhost).
    #[arg(long, env = "REX_QUEUE_PREFIX", default_value = "rex", global = true)]
    pub queue_prefix: String,
    /// Deliveries of one task before it is dead-lettered as poison.
    #[arg(long, env = "REX_DELIVERY_LIMIT", default_value_t = 5, global = true)]
    pub delivery_limit: u32,
    /// Database pool size of this process.
    #[arg(
        long,
        env = "REX_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,
    /// Address of this process's operational HTTP endpoints: `/metrics` (Prometheus),
    /// `/healthz` and `/readyz` (database and broker reachable). Default: 0.0.0.0:9464
    /// for `rex orchestrator`, 0.0.0.0:9465 for `rex worker`, 127.0.0.1:9464 for
    /// `rex dev`; `off` disables them.
    #[arg(long, env = "REX_HTTP_ADDR", global = true)]
    pub http_addr: Option<String>,
    /// Log line format: pretty or json. Filter with REX_LOG or RUST_LOG.
    #[arg(long, env = "REX_LOG_FORMAT", default_value = "pretty", global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade every table (PostgreSQL or SQLite).
    Migrate,
    /// Run an orchestrator: applies results, relays the outbox, fires timers.
    Orchestrator(OrchestratorArgs),
    /// Run workers for one or more agents.
    Worker(WorkerArgs),
    /// Serve the HTTP API (`/v1`, `/openapi.json`, `/healthz`, `/readyz`, `/metrics`).
    Api(ApiArgs),
    /// Create, list and revoke tenants' API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeysCommand),
    /// Validate, store and list workflow definitions.
    #[command(subcommand)]
    Definitions(DefinitionsCommand),
    /// Start, inspect, list and cancel missions.
    #[command(subcommand)]
    Missions(MissionsCommand),
    /// Run one mission of a definition file to completion in this process (embedded
    /// engine), show its progress and timeline, print its output.
    Run(RunArgs),
    /// Run every component in one process on the embedded default until Ctrl-C.
    Dev(DevArgs),
    /// Run a reactivation campaign over the demo leads on the embedded default, with a
    /// simulated world answering the dry-run sends and idle time skipped; print its
    /// report.
    Demo(DemoArgs),
    /// Publish events to correlation keys (e.g. `lead:42`).
    #[command(subcommand)]
    Events(EventsCommand),
    /// List the tasks the broker gave up on (past the delivery limit), and replay them.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Show what the provider stand-ins would have sent (no credentials configured):
    /// DRY RUN, nothing was delivered.
    #[command(subcommand)]
    DryRun(DryRunCommand),
    /// Store, list, delete and rotate tenants' encrypted provider credentials.
    #[command(subcommand)]
    Secrets(crate::secrets::SecretsCommand),
    /// Measure throughput and latency of the engine with no-op agents.
    Bench(crate::bench::BenchArgs),
}

impl Command {
    /// `service.name` of this process in traces.
    pub fn service_name(&self) -> &'static str {
        match self {
            Command::Orchestrator(_) => "rex-orchestrator",
            Command::Worker(_) => "rex-worker",
            Command::Dev(_) => "rex-dev",
            Command::Api(_) => "rex-api",
            Command::Demo(_) => "rex-demo",
            Command::Bench(_) => "rex-bench",
            _ => "rex-cli",
        }
    }

    /// Quieter logs for the interactive commands, whose output is for people.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Command::Run(_)
            | Command::Demo(_)
            | Command::Definitions(_)
            | Command::Missions(_)
            | Command::DeadLetters(_)
            | Command::DryRun(_)
            | Command::Secrets(_)
            | Command::Bench(_) => "warn",
            _ => "info",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct OrchestratorArgs {
    /// Unacknowledged results the broker may push to this process.
    #[arg(long, env = "REX_ORCHESTRATOR_PREFETCH", default_value_t = 512)]
    pub prefetch: u16,
    /// Results applied per database transaction at most.
    #[arg(long, env = "REX_ORCHESTRATOR_BATCH", default_value_t = 256)]
    pub batch_size: usize,
    /// Age (ms) after which the relay publishes an outbox row left behind.
    #[arg(long, env = "REX_RELAY_GRACE_MS", default_value_t = 5000)]
    pub relay_grace_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Address to listen on.
    #[arg(long, env = "REX_API_ADDR", default_value = "0.0.0.0:8080")]
    pub addr: String,
    /// Requests per minute per API key.
    #[arg(long, env = "REX_API_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// Origins allowed by CORS (repeat; `*` for any). None: no CORS headers.
    #[arg(
        long = "cors-origin",
        env = "REX_API_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// Served behind TLS (adds Strict-Transport-Security).
    #[arg(long, env = "REX_API_BEHIND_TLS")]
    pub behind_tls: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key for a tenant (created if new); the key is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        /// A name for people (e.g. "ci").
        #[arg(long)]
        name: String,
        /// Comma-separated: read, write, admin.
        #[arg(long, default_value = "read,write")]
        scopes: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Agent to run (repeat for several): noop, echo, sleep, fail.
    #[arg(long = "agent", required = true, num_args = 1..)]
    pub agents: Vec<String>,
    /// Attempts run at once per agent.
    #[arg(long, env = "REX_WORKER_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// Unacknowledged tasks per agent queue (default: 2 × concurrency).
    #[arg(long, env = "REX_WORKER_PREFETCH")]
    pub prefetch: Option<u16>,
    /// Seconds in-flight attempts may run on after SIGTERM.
    #[arg(long, env = "REX_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// Seconds a claimed attempt stays this worker's without a heartbeat (renewed every
    /// third); a dead worker's tasks run elsewhere once it has passed.
    #[arg(long, env = "REX_WORKER_LEASE_SECS", default_value_t = 30)]
    pub lease_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum DefinitionsCommand {
    /// Check definition files and report every problem (stores nothing).
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate and store definition files (a stored version is immutable).
    Push {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List stored definitions.
    List,
}

#[derive(Debug, Subcommand)]
pub enum MissionsCommand {
    /// Start a mission of a stored definition.
    Start {
        /// Definition name.
        definition: String,
        /// Definition version (default: the latest).
        #[arg(long)]
        version: Option<i32>,
        /// Mission input: inline JSON, or @path to a JSON file.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Starting twice with the same key starts one mission.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show a mission and its step timeline.
    Get {
        id: uuid::Uuid,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List missions, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        definition: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Only the child missions this mission's fan-out steps started.
        #[arg(long, conflicts_with = "all")]
        parent: Option<uuid::Uuid>,
        /// Include child missions (by default only missions started by a user).
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a running mission.
    Cancel {
        id: uuid::Uuid,
        #[arg(long, default_value = "cancelled from the command line")]
        reason: String,
    },
    /// Send a signal to a mission (e.g. `lead.replied`).
    Signal {
        id: uuid::Uuid,
        /// Signal name.
        name: String,
        /// Signal payload: inline JSON, or @path to a JSON file.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Deduplication id: the same id twice acts once (default: a new one).
        #[arg(long = "id")]
        signal_id: Option<String>,
    },
    /// Run a failed or cancelled mission again, keeping the outputs of finished steps.
    Retry {
        id: uuid::Uuid,
        /// Re-run this step and every step after it (default: the unfinished steps).
        #[arg(long)]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters with their error, newest first.
    List {
        /// Only those of this agent's queue (`results` for the results queue).
        #[arg(long)]
        agent: Option<String>,
        /// Only those of this mission.
        #[arg(long)]
        mission: Option<uuid::Uuid>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a dead letter's task to its queue again (safe to repeat: a finished
    /// attempt is answered from its checkpoint, never run twice).
    Replay { id: uuid::Uuid },
}

#[derive(Debug, Subcommand)]
pub enum DryRunCommand {
    /// List dry-run entries, newest first.
    List {
        /// Only this provider's (sendgrid, twilio, …).
        #[arg(long)]
        provider: Option<String>,
        /// At most this many (capped at 1000).
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Tenant slug.
        #[arg(long, env = "REX_TENANT", default_value = "default")]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry: recipient, headers and the full rendered message.
    Show {
        id: uuid::Uuid,
        /// Tenant slug.
        #[arg(long, env = "REX_TENANT", default_value = "default")]
        tenant: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Deliver an event, as a signal, to every running mission listening on KEY.
    Publish {
        /// Correlation key, e.g. `lead:42`.
        #[arg(long)]
        key: String,
        /// Signal name.
        name: String,
        /// Payload: inline JSON, or @path to a JSON file.
        #[arg(long, default_value = "{}")]
        payload: String,
        /// Deduplication id: the same id twice acts once per mission (default: new).
        #[arg(long = "id")]
        event_id: Option<String>,
        /// Reach only the missions of this tenant (slug) and the operator's, as the
        /// agents do for a tenant's lead; without it, every tenant's.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Definition file (YAML or JSON).
    pub file: PathBuf,
    /// Mission input: inline JSON, or @path to a JSON file.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Worker concurrency per agent.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Print the final mission as JSON instead of the timeline.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Campaign input (`lead-reactivation`'s inputs): inline JSON, or @path.
    #[arg(long, default_value = "@data/demo/campaign.json")]
    pub input: String,
    /// The tenant's sending domains and mailboxes.
    #[arg(long, default_value = "data/demo/senders.json")]
    pub senders: PathBuf,
    /// At most this many leads get a sequence (overrides the input's `max_leads`).
    #[arg(long)]
    pub leads: Option<u32>,
    /// Worker concurrency per agent (SQLite has one writer: more only waits on it).
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Give up after this many seconds of wall time.
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Definition files to push at start.
    pub files: Vec<PathBuf>,
    /// Worker concurrency per agent.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Where to serve the API and the command center (`/ui/`); `off` serves neither.
    #[arg(long, env = "REX_DEV_API_ADDR", default_value = "127.0.0.1:8080")]
    pub api_addr: String,
    /// Requests per minute per API key on the dev API (0: no limit). Higher than
    /// `rex api`'s default: the command center's pages poll.
    #[arg(long, default_value_t = 1200)]
    pub api_rate_limit: u32,
    /// The tenant of the key `rex dev` creates on its first start (printed once).
    /// Default `default`: the tenant of missions started from the CLI, so the command
    /// center shows them too.
    #[arg(long, default_value = "default")]
    pub dev_tenant: String,
}
