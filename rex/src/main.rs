//! `rex`: the command that wires Rex's crates into processes — the embedded single-process
//! mode (`rex run`, `rex dev`), the production processes (`rex orchestrator`,
//! `rex worker`), and the operator commands (`rex migrate`, `rex definitions`,
//! `rex missions`, `rex secrets`, `rex bench`).

mod bench;
mod cli;
mod dead_letters;
mod definitions;
mod demo;
mod dry_run;
mod embedded;
mod events;
mod input;
mod missions;
mod render;
mod secrets;
mod serve;
mod setup;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = rex_observability::TelemetryConfig::new(cli.command.service_name())
        .with_log_format(cli.global.log_format)
        .with_default_log_filter(cli.command.default_log_filter());
    // Traces are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set; a bad exporter
    // setting leaves logs only, with a warning, rather than refusing to start.
    let guard = match rex_observability::init_telemetry(telemetry.clone()) {
        Ok(guard) => Some(guard),
        Err(err) => {
            let guard = rex_observability::init_telemetry(
                telemetry.with_export(rex_observability::Export::Off),
            )
            .ok();
            tracing::warn!(error = %err, "traces are not exported");
            guard
        }
    };
    let code = run(cli);
    if let Some(guard) = guard
        && let Err(err) = guard.shutdown()
    {
        eprintln!("warning: flushing traces: {err}");
    }
    code
}

fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Migrate => serve::migrate(g).await,
        Command::Orchestrator(args) => serve::orchestrator(g, args).await,
        Command::Worker(args) => serve::worker(g, args).await,
        Command::Definitions(cmd) => definitions::run(g, cmd).await,
        Command::Missions(cmd) => missions::run(g, cmd).await,
        Command::Run(args) => embedded::run_file(g, args).await,
        Command::Dev(args) => embedded::dev(g, args).await,
        Command::Demo(args) => demo::run(g, args).await,
        Command::Api(args) => serve::api(g, args).await,
        Command::ApiKeys(cmd) => serve::api_keys(g, cmd).await,
        Command::Events(cmd) => events::run(g, cmd).await,
        Command::DeadLetters(cmd) => dead_letters::run(g, cmd).await,
        Command::DryRun(cmd) => dry_run::run(g, cmd).await,
        Command::Secrets(cmd) => secrets::run(g, cmd).await,
        Command::Bench(args) => bench::run(g, args).await,
    }
}
