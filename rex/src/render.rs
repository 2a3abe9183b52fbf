//! Human-readable views of missions: the step timeline and listings.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use rex_store::entity::{attempts, missions, steps};
use serde_json::{Value, json};

fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = (to - from).num_microseconds().unwrap_or(0) as f64 / 1000.0;
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

/// The mission's header line and one line per step, in the definition's order.
/// Steps retried show one sub-line per attempt, with the worker-side times and errors.
pub fn timeline(
    mission: &missions::Model,
    steps: &[steps::Model],
    attempts: &[attempts::Model],
    order: &[String],
) -> String {
    let mut out = String::new();
    let took = mission
        .finished_at
        .map(|f| format!(" in {}", millis(mission.created_at, f)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "mission {} ({} v{}): {}{took}",
        mission.id, mission.definition_name, mission.definition_version, mission.status
    );
    let width = steps
        .iter()
        .map(|s| s.step_id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "  {:width$}  {:13}  {:>7}  {:>10}  {:>10}  error",
        "step", "status", "attempt", "started", "duration"
    );
    let mut sorted: Vec<&steps::Model> = steps.iter().collect();
    sorted.sort_by_key(|s| {
        order
            .iter()
            .position(|o| *o == s.step_id)
            .unwrap_or(usize::MAX)
    });
    for s in sorted {
        let started = s
            .dispatched_at
            .map(|d| format!("+{}", millis(mission.created_at, d)))
            .unwrap_or_else(|| "-".into());
        let duration = match (s.dispatched_at, s.finished_at) {
            (Some(d), Some(f)) => millis(d, f),
            _ => "-".into(),
        };
        let note = match (&s.error, &s.fanout) {
            (Some(error), _) => error.clone(),
            (None, Some(fan)) => fan_out_progress(fan),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:13}  {:>7}  {:>10}  {:>10}  {}",
            s.step_id, s.status, s.attempt, started, duration, note
        );
        let tries: Vec<&attempts::Model> =
            attempts.iter().filter(|a| a.step_id == s.step_id).collect();
        if tries.len() > 1 {
            for a in tries {
                let duration = a
                    .finished_at
                    .map(|f| millis(a.started_at, f))
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "  {:width$}  {:13}  {:>7}  {:>10}  {:>10}  {}",
                    "",
                    format!("└ {}", a.status),
                    a.attempt,
                    format!("+{}", millis(mission.created_at, a.started_at)),
                    duration,
                    a.error.as_deref().unwrap_or("")
                );
            }
        }
    }
    if let Some(error) = &mission.error {
        let _ = writeln!(out, "error: {error}");
    }
    out
}

/// A fan-out step's counts: `children 40/1000 started, 35 ok, 1 failed`.
fn fan_out_progress(fan: &Value) -> String {
    let n = |k: &str| fan.get(k).and_then(Value::as_u64).unwrap_or(0);
    format!(
        "children {}/{} started, {} ok, {} failed",
        n("started"),
        n("total"),
        n("succeeded"),
        n("failed")
    )
}

/// A mission with its steps as JSON.
pub fn mission_json(mission: &missions::Model, steps: &[steps::Model]) -> Value {
    json!({
        "id": mission.id,
        "definition": mission.definition_name,
        "version": mission.definition_version,
        "status": mission.status,
        "input": mission.input,
        "output": mission.output,
        "error": mission.error,
        "created_at": mission.created_at,
        "finished_at": mission.finished_at,
        "steps": steps.iter().map(|s| json!({
            "id": s.step_id,
            "status": s.status,
            "attempt": s.attempt,
            "input": s.input,
            "output": s.output,
            "error": s.error,
            "children": s.fanout,
            "dispatched_at": s.dispatched_at,
            "finished_at": s.finished_at,
        })).collect::<Vec<_>>(),
    })
}

/// One line per mission.
pub fn mission_list(missions: &[missions::Model]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:36}  {:24}  {:10}  created",
        "id", "definition", "status"
    );
    for m in missions {
        let _ = writeln!(
            out,
            "{:36}  {:24}  {:10}  {}",
            m.id,
            format!("{} v{}", m.definition_name, m.definition_version),
            m.status,
            m.created_at.format("%Y-%m-%d %H:%M:%S%.3f")
        );
    }
    out
}
