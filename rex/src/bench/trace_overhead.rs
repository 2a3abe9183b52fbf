//! `rex bench tracing`: what exporting traces costs. The missions scenario runs as a
//! child `rex bench missions` process per run, identical but for the environment:
//! exporter **off** (`OTEL_SDK_DISABLED=true`, no endpoint: no OpenTelemetry layer at
//! all) or **on** (`OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/gRPC receiver
//! this process serves, see [`super::otlp_receiver`]). A process per run because the
//! exporter is chosen once per process, when telemetry is installed, exactly as in
//! production. Modes alternate (off, on, then on, off…) so that a drift in the
//! machine's load falls on both; the figures of each mode are averaged over `--rounds`.
//!
//! Every span the "on" runs make at the exported level (`REX_TRACE_FILTER`, default
//! `info`) is sampled (unless `OTEL_TRACES_SAMPLER` says otherwise), batched, encoded
//! and sent; the receiver counts them, and a run that exported nothing is an error,
//! not a flattering figure.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;

use super::otlp_receiver::Receiver;
use super::{BenchArgs, Figures, WARM_UP};
use crate::cli::Global;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    On,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Off => "off",
            Mode::On => "on",
        })
    }
}

/// Off first in odd rounds, on first in even ones.
fn order(round: usize) -> [Mode; 2] {
    if round.is_multiple_of(2) {
        [Mode::Off, Mode::On]
    } else {
        [Mode::On, Mode::Off]
    }
}

/// One child run.
struct Run {
    mode: Mode,
    figures: Vec<Figures>,
    /// Spans the receiver got during the run.
    spans: u64,
}

pub(super) async fn run(g: &Global, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let receiver = Receiver::start().await?;
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    println!(
        "rex bench tracing: the missions scenario {} time(s) with the trace exporter off and on; \
         spans go over OTLP/gRPC to a receiver in this process ({})",
        args.rounds,
        receiver.endpoint()
    );
    let mut runs = Vec::new();
    for round in 0..args.rounds {
        for mode in order(round) {
            println!("\n── round {}, exporter {mode} ──", round + 1);
            let report = dir.path().join(format!("round{round}-{mode}.json"));
            let before = receiver.counts().spans();
            let figures = child(&exe, g, args, mode, receiver.endpoint(), &report).await?;
            // the child flushed its spans before it exited
            let spans = receiver.counts().spans() - before;
            if mode == Mode::On && spans == 0 {
                anyhow::bail!("the exporter sent no span to {}", receiver.endpoint());
            }
            if mode == Mode::Off && spans > 0 {
                anyhow::bail!("{spans} spans arrived from a run with the exporter off");
            }
            runs.push(Run {
                mode,
                figures,
                spans,
            });
        }
    }
    let requests = receiver.counts().requests();
    receiver.stop().await?;
    print_summary(&runs, requests);
    Ok(ExitCode::SUCCESS)
}

/// Runs `rex bench missions` with `args`' workload in `mode`; returns its figures.
async fn child(
    exe: &Path,
    g: &Global,
    args: &BenchArgs,
    mode: Mode,
    endpoint: &str,
    report: &Path,
) -> anyhow::Result<Vec<Figures>> {
    let shape = args
        .shape
        .to_possible_value()
        .context("every shape has a name")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("bench")
        .arg("missions")
        .args(["--shape", shape.get_name()])
        .args(["--missions", &args.missions.to_string()])
        .args(["--steps", &args.steps.to_string()])
        .args(["--width", &args.width.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--orchestrators", &args.orchestrators.to_string()])
        .args(["--workers", &args.workers.to_string()])
        .args(["--worker-concurrency", &args.worker_concurrency.to_string()])
        .arg("--report")
        .arg(report)
        .env("REX_QUEUE_PREFIX", &g.queue_prefix)
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .kill_on_drop(true);
    for (name, value) in [
        ("REX_DATABASE_URL", &g.database_url),
        ("REX_AMQP_URL", &g.amqp_url),
    ] {
        match value {
            Some(value) => cmd.env(name, value),
            None => cmd.env_remove(name),
        };
    }
    match mode {
        Mode::Off => cmd
            .env("OTEL_SDK_DISABLED", "true")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT"),
        Mode::On => cmd
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("OTEL_TRACES_EXPORTER"),
    };
    let status = cmd
        .status()
        .await
        .context("starting a `rex bench missions` process")?;
    anyhow::ensure!(
        status.success(),
        "`rex bench missions` (exporter {mode}) failed: {status}"
    );
    let text = std::fs::read(report).with_context(|| format!("reading {}", report.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

/// The mean figures of one shape over the runs of one mode.
#[derive(Debug, Clone, PartialEq)]
struct Means {
    steps_per_s: f64,
    dispatch_ms: [f64; 3],
    mission_ms: [f64; 2],
}

fn means(runs: &[Run], mode: Mode, name: &str) -> Option<Means> {
    let figures: Vec<&Figures> = runs
        .iter()
        .filter(|r| r.mode == mode)
        .flat_map(|r| r.figures.iter().filter(|f| f.name == name))
        .collect();
    if figures.is_empty() {
        return None;
    }
    let n = figures.len() as f64;
    let mean = |value: &dyn Fn(&Figures) -> f64| figures.iter().map(|f| value(f)).sum::<f64>() / n;
    Some(Means {
        steps_per_s: mean(&|f| f.steps_per_s()),
        dispatch_ms: [0, 1, 2].map(|i| mean(&|f| f.dispatch_ms[i])),
        mission_ms: [0, 1].map(|i| mean(&|f| f.mission_ms[i])),
    })
}

/// How much worse `on` is than `off`, in % of `off`: less throughput, or more latency.
/// Negative when tracing measured better (noise).
fn overhead(off: f64, on: f64, higher_is_better: bool) -> f64 {
    let worse = if higher_is_better { off - on } else { on - off };
    worse / off * 100.0
}

fn print_summary(runs: &[Run], requests: u64) {
    let rounds = runs.iter().filter(|r| r.mode == Mode::On).count();
    println!(
        "\nsummary: mean of {rounds} run(s) per mode; overhead = how much worse with the exporter on"
    );
    let mut names: Vec<&str> = Vec::new();
    for f in runs.iter().flat_map(|r| &r.figures) {
        if !names.contains(&f.name.as_str()) {
            names.push(&f.name);
        }
    }
    println!(
        "  {:<28} {:>12} {:>12} {:>10}",
        "", "exporter off", "exporter on", "overhead"
    );
    for name in names {
        let (Some(off), Some(on)) = (means(runs, Mode::Off, name), means(runs, Mode::On, name))
        else {
            continue;
        };
        let rows = [
            ("steps/s", off.steps_per_s, on.steps_per_s, true),
            (
                "dispatch p50 ms",
                off.dispatch_ms[0],
                on.dispatch_ms[0],
                false,
            ),
            (
                "dispatch p99 ms",
                off.dispatch_ms[2],
                on.dispatch_ms[2],
                false,
            ),
            ("mission p50 ms", off.mission_ms[0], on.mission_ms[0], false),
            ("mission p99 ms", off.mission_ms[1], on.mission_ms[1], false),
        ];
        println!("  {name}");
        for (label, off, on, higher_is_better) in rows {
            println!(
                "    {label:<26} {off:>12.2} {on:>12.2} {:>9.1} %",
                overhead(off, on, higher_is_better)
            );
        }
    }
    let exported: u64 = runs.iter().map(|r| r.spans).sum();
    let missions: usize = runs
        .iter()
        .filter(|r| r.mode == Mode::On)
        .flat_map(|r| &r.figures)
        .map(|f| f.missions + WARM_UP.min(f.missions))
        .sum();
    println!(
        "  spans exported: {exported} in {requests} requests, {:.1} per mission (warm-up missions included)",
        exported as f64 / missions.max(1) as f64
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(name: &str, wall_s: f64, mission_p50: f64) -> Figures {
        Figures {
            name: name.into(),
            missions: 100,
            steps: 3,
            failed: 0,
            wall_s,
            dispatch_ms: [1.0, 2.0, 3.0],
            mission_ms: [mission_p50, 2.0 * mission_p50],
        }
    }

    #[test]
    fn overhead_is_lost_throughput_or_added_latency_in_percent() {
        assert_eq!(overhead(1000.0, 900.0, true), 10.0);
        assert_eq!(overhead(10.0, 12.0, false), 20.0);
        assert_eq!(overhead(1000.0, 1100.0, true), -10.0);
    }

    #[test]
    fn means_average_one_shape_over_the_runs_of_one_mode() {
        let run = |mode, wall_s, p50| Run {
            mode,
            figures: vec![figures("chain", wall_s, p50), figures("fanout", 9.0, 9.0)],
            spans: 0,
        };
        let runs = [
            run(Mode::Off, 1.0, 10.0),
            run(Mode::On, 2.0, 20.0),
            run(Mode::Off, 0.5, 30.0),
        ];
        let off = means(&runs, Mode::Off, "chain").unwrap();
        // 300 steps in 1 s and in 0.5 s
        assert_eq!(off.steps_per_s, 450.0);
        assert_eq!(off.mission_ms, [20.0, 40.0]);
        assert_eq!(means(&runs, Mode::On, "chain").unwrap().steps_per_s, 150.0);
        assert_eq!(means(&runs, Mode::On, "nothing"), None);
    }

    #[test]
    fn the_modes_alternate_from_round_to_round() {
        assert_eq!(order(0), [Mode::Off, Mode::On]);
        assert_eq!(order(1), [Mode::On, Mode::Off]);
    }
}
