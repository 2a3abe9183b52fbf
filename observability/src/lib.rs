//! Logs, traces and metrics shared by every Rex process.
//!
//! It owns the `tracing` subscriber and the OpenTelemetry SDK ([`init_telemetry`]),
//! W3C trace-context propagation over plain string maps — the broker's message
//! headers — and over one stored string ([`inject_current`], [`set_parent`],
//! [`current_context_string`]…), span constructors following the OpenTelemetry
//! semantic conventions ([`spans`]), the Prometheus metrics of issue 7 ([`Metrics`],
//! [`render`], [`serve_metrics`]) and PII redaction for logs ([`redact_pii`]). It is
//! a leaf: it depends on no other Rex crate and on no lapin, sea-orm or axum; the
//! broker, the store, the workers and the binary call into it.
//!
//! # One trace per mission
//!
//! The API request or CLI call that starts a mission opens [`spans::mission_span`]
//! and stores [`current_context_string`] with the mission. From there:
//!
//! - the orchestrator's [`spans::dispatch_span`] takes as parent the span that made
//!   the step ready (the result's `process` span), or — when nothing in the process
//!   is the cause, as after a timer or a restart — the stored mission context
//!   ([`set_parent_from_string`]);
//! - inside [`spans::publish_span`], [`inject_current`] writes `traceparent` and
//!   `tracestate` into the task's headers. Inject when the task is committed to the
//!   outbox, not when it is published: the relay then republishes a crashed
//!   orchestrator's rows with the original context;
//! - the worker's [`spans::process_span`] takes its parent from the headers
//!   ([`set_parent`]); [`spans::step_span`], the provider calls'
//!   [`spans::http_client_span`] and the result's `publish` are its descendants.
//!
//! **A step dispatched after a three-day timer joins the mission's trace with the
//! same trace id** (its dispatch span's parent is the stored context), rather than
//! starting a new trace linked to the old one. The users asked to follow a mission
//! as one trace in Jaeger: a link would split a three-week sequence into dozens of
//! traces that Jaeger's search lists separately. The cost is a trace that lasts as
//! long as the mission, which Jaeger and the OTLP path handle (spans are exported as
//! they end; nothing waits for the trace to close), and a head-sampling decision
//! taken once, when the mission starts, and kept by every later span (the default
//! sampler is parent-based) — so a mission is traced whole or not at all. Tail
//! sampling in a collector would see such a trace in pieces; do not use it for Rex.
//! Span links ([`link_to`]) remain for work that concerns many missions at once,
//! such as one orchestrator transaction committing a batch of results: that span
//! starts its own trace and links to each mission.
//!
//! Without an exporter (no `OTEL_EXPORTER_OTLP_ENDPOINT`), no OpenTelemetry layer is
//! installed: spans cost what plain `tracing` spans cost, and the helpers inject and
//! store nothing.

pub mod error;
pub mod metrics;
pub mod propagation;
pub mod redact;
pub mod serve;
mod setup;
pub mod spans;

use std::sync::Mutex;

pub use error::TelemetryError;
pub use metrics::{
    DecisionLayer, DomainTier, FailureKind, Metrics, ProviderOutcome, metrics, render,
};
pub use opentelemetry::Context;
pub use propagation::{
    context_from_string, context_to_string, current_context_string, current_trace_id, extract,
    inject_context, inject_current, link_to, set_parent, set_parent_from_string, trace_id,
};
pub use redact::{Redacted, redact_pii};
pub use serve::{Readiness, serve_http, serve_metrics};
pub use setup::{Export, TelemetryConfig, TelemetryGuard, init_telemetry};
pub use spans::{DbSystem, StepRef};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers; inside a traced span it carries
    /// `trace_id` and `span_id`.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" | "text" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?} (expected pretty or json)"
            )),
        }
    }
}

/// The guard of the telemetry [`init`] installed, flushed by [`shutdown`].
static INIT_GUARD: Mutex<Option<TelemetryGuard>> = Mutex::new(None);

/// Installs logs and, when the `OTEL_*` variables configure an endpoint, trace
/// export, as [`init_telemetry`] does with service name `rex`. `default_filter`
/// applies when neither `REX_LOG` nor `RUST_LOG` is set. Calling it twice is
/// harmless (the second call does nothing). An invalid exporter configuration is
/// reported as a warning and leaves logs only. Call [`shutdown`] before the process
/// exits, or the last spans are lost; new code should prefer [`init_telemetry`]
/// and hold its guard.
pub fn init(format: LogFormat, default_filter: &str) {
    let cfg = TelemetryConfig::default()
        .with_log_format(format)
        .with_default_log_filter(default_filter);
    let guard = match init_telemetry(cfg.clone()) {
        Ok(guard) => guard,
        Err(TelemetryError::AlreadyInstalled) => return,
        Err(err) => match init_telemetry(cfg.with_export(Export::Off)) {
            Ok(guard) => {
                tracing::warn!(error = %err, "traces are not exported");
                guard
            }
            Err(_) => return,
        },
    };
    *INIT_GUARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(guard);
}

/// Flushes and stops the exporter that [`init`] started; does nothing otherwise.
pub fn shutdown() {
    let guard = INIT_GUARD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    if let Some(guard) = guard
        && let Err(err) = guard.shutdown()
    {
        eprintln!("warning: telemetry shutdown: {err}");
    }
}
