//! What can go wrong while setting telemetry up or shutting it down.

use opentelemetry_otlp::ExporterBuildError;
use opentelemetry_sdk::error::OTelSdkError;

/// None of these is retryable: they come from configuration or from the process's
/// own setup, and retrying without a change gives the same answer.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Another global `tracing` subscriber was installed first (a second call, or a
    /// test harness). Logs still go wherever that subscriber sends them.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    /// The OTLP exporter refused its configuration (a malformed
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, an `https` endpoint without TLS support…).
    #[error("otlp exporter: {0}")]
    Exporter(#[from] ExporterBuildError),
    /// The small runtime that carries the exporter's gRPC connection could not start.
    #[error("cannot start the telemetry runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Flushing or shutting the tracer provider down failed (the collector did not
    /// answer in time, or the provider was already shut down).
    #[error("otlp flush: {0}")]
    Flush(#[from] OTelSdkError),
}
