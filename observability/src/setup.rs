//! One call that installs logs and traces: [`init_telemetry`].

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FmtSpan, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::LogFormat;
use crate::error::TelemetryError;

/// How long a shutdown waits for the last spans to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Libraries whose own spans must never reach the exporter: they are the exporter's
/// transport, and tracing them would trace every export, forever.
const EXPORTER_INTERNALS: [&str; 6] = [
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "opentelemetry",
];

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Export {
    /// The standard variables decide: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` set (and not empty) turns the OTLP gRPC exporter
    /// on; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off. With
    /// neither variable there is no exporter, no OpenTelemetry layer, no cost.
    #[default]
    FromEnv,
    /// This OTLP gRPC endpoint (e.g. `http://127.0.0.1:4317`), whatever the
    /// environment says: for tests and command-line flags.
    Endpoint(String),
    /// Logs only.
    Off,
}

impl Export {
    /// The endpoint to export to, if any; `env` reads a variable (a parameter so
    /// the rules are tested without touching the process's environment).
    fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Option<String> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        match self {
            Export::Off => None,
            Export::Endpoint(endpoint) => Some(endpoint.clone()),
            Export::FromEnv => {
                let disabled = set("OTEL_SDK_DISABLED")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                    || set("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
                if disabled {
                    return None;
                }
                set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
            }
        }
    }
}

/// What [`init_telemetry`] installs. Every field has a default; the standard
/// `OTEL_*` variables win over `service_name`, as the OpenTelemetry spec requires.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Default [`LogFormat::Pretty`].
    pub log_format: LogFormat,
    /// The log filter when neither `REX_LOG` nor `RUST_LOG` is set. Default `info`.
    pub default_log_filter: String,
    /// Which spans are exported, when `REX_TRACE_FILTER` is not set. Default `info`.
    /// Independent of the log filter: a quiet terminal still exports full traces.
    pub default_trace_filter: String,
    /// `service.name` in Jaeger unless `OTEL_SERVICE_NAME` (or `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) says otherwise. Default `rex`; use one per process
    /// role: `rex-api`, `rex-orchestrator`, `rex-worker`.
    pub service_name: String,
    /// `service.version`. Default this crate's version.
    pub service_version: String,
    /// Default [`Export::FromEnv`].
    pub export: Export,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            default_log_filter: "info".into(),
            default_trace_filter: "info".into(),
            service_name: "rex".into(),
            service_version: env!("CARGO_PKG_VERSION").into(),
            export: Export::FromEnv,
        }
    }
}

impl TelemetryConfig {
    pub fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            ..Self::default()
        }
    }

    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    pub fn with_default_log_filter(mut self, filter: impl Into<String>) -> Self {
        self.default_log_filter = filter.into();
        self
    }

    pub fn with_default_trace_filter(mut self, filter: impl Into<String>) -> Self {
        self.default_trace_filter = filter.into();
        self
    }

    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = version.into();
        self
    }

    pub fn with_export(mut self, export: Export) -> Self {
        self.export = export;
        self
    }
}

/// Keeps the exporter alive. Dropping it (or calling [`TelemetryGuard::shutdown`])
/// flushes the spans still buffered and stops the exporter: hold it in `main` until
/// the process is done.
#[must_use = "dropping the guard shuts the exporter down at once"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// The exporter's gRPC connection lives on this runtime rather than on the
    /// application's, so it works when `init` runs before the application's runtime
    /// exists and still flushes after that runtime has stopped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl TelemetryGuard {
    /// Whether spans leave the process.
    pub fn is_exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every finished span now; blocks until the collector answered.
    pub fn force_flush(&self) -> Result<(), TelemetryError> {
        match &self.provider {
            Some(provider) => Ok(provider.force_flush()?),
            None => Ok(()),
        }
    }

    /// Flushes and stops the exporter (within 5 s). Idempotent.
    pub fn shutdown(mut self) -> Result<(), TelemetryError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), TelemetryError> {
        let result = match self.provider.take() {
            Some(provider) => provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT),
            None => Ok(()),
        };
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so dropping the guard inside async code is safe.
            runtime.shutdown_background();
        }
        Ok(result?)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("warning: telemetry shutdown: {err}");
        }
    }
}

/// Installs the global `tracing` subscriber: logs on stderr (filter `REX_LOG`, then
/// `RUST_LOG`, then `cfg.default_log_filter`) and, when an OTLP endpoint is
/// configured, the OpenTelemetry layer exporting spans over OTLP gRPC in batches
/// (filter `REX_TRACE_FILTER`, then `cfg.default_trace_filter`). The sampler comes
/// from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default: parent-based,
/// always on), the resource from `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`,
/// the exporter's timeout, headers and compression from the other `OTEL_EXPORTER_OTLP_*`
/// variables. It also makes W3C trace context the global propagator.
///
/// Fails when a global subscriber already exists (nothing is changed then) or when
/// the exporter's configuration is invalid.
pub fn init_telemetry(cfg: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let endpoint = cfg.export.resolve(|name| std::env::var(name).ok());
    let guard = match endpoint {
        Some(endpoint) => exporting_guard(&cfg, endpoint)?,
        None => TelemetryGuard {
            provider: None,
            runtime: None,
        },
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![fmt_layer(
        cfg.log_format,
        log_filter(&cfg.default_log_filter),
        std::io::stderr,
    )];
    if let Some(provider) = &guard.provider {
        layers.push(otel_layer(provider, &cfg.default_trace_filter));
    }
    tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    if let Some(provider) = &guard.provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Ok(guard)
}

/// A tracer provider exporting to `endpoint` in batches, and the runtime that
/// carries its gRPC connection. Works with or without a runtime on this thread.
fn exporting_guard(
    cfg: &TelemetryConfig,
    endpoint: String,
) -> Result<TelemetryGuard, TelemetryError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rex-otlp")
        .enable_all()
        .build()
        .map_err(TelemetryError::Runtime)?;
    let exporter = {
        // The channel spawns its connection task on the runtime entered here.
        let _entered = runtime.enter();
        SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(cfg, |name| std::env::var(name).ok()))
        .build();
    Ok(TelemetryGuard {
        provider: Some(provider),
        runtime: Some(runtime),
    })
}

/// The OpenTelemetry layer over `provider`, filtered by `REX_TRACE_FILTER` (else
/// `default_filter`), never letting the exporter's own transport in.
pub(crate) fn otel_layer<S>(
    provider: &SdkTracerProvider,
    default_filter: &str,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let mut filter = env_filter(&["REX_TRACE_FILTER"], default_filter);
    for target in EXPORTER_INTERNALS {
        if let Ok(directive) = format!("{target}=off").parse() {
            filter = filter.add_directive(directive);
        }
    }
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("rex"))
        .with_filter(filter)
        .boxed()
}

fn log_filter(default_filter: &str) -> EnvFilter {
    env_filter(&["REX_LOG", "RUST_LOG"], default_filter)
}

/// The first of `vars` that is set and parses, else `default_filter` (else `info`).
fn env_filter(vars: &[&str], default_filter: &str) -> EnvFilter {
    vars.iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(default_filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The log layer: compact text, or JSON lines carrying the current span's fields,
/// the list of enclosing spans and, inside a traced span, `trace_id` and `span_id`.
pub(crate) fn fmt_layer<S, W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_span_events(FmtSpan::NONE);
    match format {
        LogFormat::Pretty => layer.compact().with_filter(filter).boxed(),
        LogFormat::Json => {
            let json = layer.json().with_current_span(true).with_span_list(true);
            let inner = tracing_subscriber::fmt::format()
                .json()
                .with_current_span(true)
                .with_span_list(true);
            json.event_format(JsonWithTraceIds(inner))
                .with_filter(filter)
                .boxed()
        }
    }
}

/// The JSON formatter of `tracing-subscriber`, plus `trace_id` and `span_id` of the
/// OpenTelemetry context active when the event fires (the OpenTelemetry layer
/// activates a span's context when the span is entered). Lines outside any traced
/// span are left as they are.
struct JsonWithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for JsonWithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let ids = span.span_context();
        if !ids.is_valid() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(256);
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.trim_end().strip_suffix('}') {
            Some(head) => {
                let comma = if head.trim_end().ends_with('{') {
                    ""
                } else {
                    ","
                };
                writeln!(
                    writer,
                    "{head}{comma}\"trace_id\":\"{}\",\"span_id\":\"{}\"}}",
                    ids.trace_id(),
                    ids.span_id()
                )
            }
            None => writer.write_str(&line),
        }
    }
}

/// `service.name` from the config unless the environment names the service, which
/// the SDK's own detectors then read.
fn resource(cfg: &TelemetryConfig, env: impl Fn(&str) -> Option<String>) -> Resource {
    let named_by_env = env("OTEL_SERVICE_NAME").is_some_and(|v| !v.trim().is_empty())
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attrs| {
            attrs.split(',').any(|kv| {
                kv.split_once('=')
                    .is_some_and(|(k, _)| k.trim() == "service.name")
            })
        });
    let mut builder = Resource::builder();
    if !named_by_env {
        builder = builder.with_service_name(cfg.service_name.clone());
    }
    builder
        .with_attribute(KeyValue::new(
            "service.version",
            cfg.service_version.clone(),
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use opentelemetry::Value;

    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn no_endpoint_in_the_environment_means_no_exporter() {
        assert_eq!(Export::FromEnv.resolve(env_of(&[])), None);
        assert_eq!(
            Export::FromEnv.resolve(env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            None
        );
    }

    #[test]
    fn the_traces_endpoint_wins_over_the_general_one() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
        ]);
        assert_eq!(
            Export::FromEnv.resolve(env).as_deref(),
            Some("http://traces:4317")
        );
        let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4317")]);
        assert_eq!(
            Export::FromEnv.resolve(env).as_deref(),
            Some("http://general:4317")
        );
    }

    #[test]
    fn the_sdk_kill_switches_turn_export_off() {
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), off]);
            assert_eq!(Export::FromEnv.resolve(env), None, "{off:?}");
        }
    }

    #[test]
    fn an_explicit_endpoint_or_off_ignores_the_environment() {
        let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")]);
        assert_eq!(Export::Off.resolve(&env), None);
        assert_eq!(
            Export::Endpoint("http://mine:4317".into())
                .resolve(&env)
                .as_deref(),
            Some("http://mine:4317")
        );
    }

    fn service_name(resource: &Resource) -> Option<Value> {
        resource.get(&opentelemetry::Key::new("service.name"))
    }

    #[test]
    fn the_configured_service_name_applies_unless_the_environment_names_one() {
        let cfg = TelemetryConfig::new("rex-worker");
        let plain = resource(&cfg, env_of(&[]));
        assert_eq!(service_name(&plain), Some(Value::from("rex-worker")));
        assert_eq!(
            plain.get(&opentelemetry::Key::new("service.version")),
            Some(Value::from(env!("CARGO_PKG_VERSION")))
        );
        // The SDK's detector reads the real variable; here only our decision not to
        // override it is checked.
        let named = resource(
            &cfg,
            env_of(&[("OTEL_RESOURCE_ATTRIBUTES", "a=b, service.name=x")]),
        );
        assert_ne!(service_name(&named), Some(Value::from("rex-worker")));
    }

    #[test]
    fn export_works_from_a_thread_without_a_runtime_as_in_main() {
        // The collector runs on its own runtime, like a remote process.
        let collector_rt = tokio::runtime::Runtime::new().unwrap();
        let mut collector = collector_rt
            .block_on(fake_opentelemetry_collector::FakeCollectorServer::start())
            .unwrap();
        assert!(tokio::runtime::Handle::try_current().is_err());

        let guard =
            exporting_guard(&TelemetryConfig::new("rex-test"), collector.endpoint()).unwrap();
        let provider = guard.provider.clone().unwrap();
        let subscriber = tracing_subscriber::registry().with(otel_layer(&provider, "info"));
        tracing::subscriber::with_default(subscriber, || {
            let _span = crate::spans::publish_span("rex.agent.echo", "m:s:1").entered();
        });
        // Dropping the guard flushes: nothing is lost at exit.
        drop(guard);
        let spans = collector_rt.block_on(collector.exported_spans(1, Duration::from_secs(10)));
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "publish rex.agent.echo");
    }

    /// A `MakeWriter` into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_trace_and_span_id_of_the_current_span() {
        let provider = SdkTracerProvider::builder().build();
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(otel_layer(&provider, "info"))
            .with(fmt_layer(
                LogFormat::Json,
                EnvFilter::new("info"),
                out.clone(),
            ));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = crate::spans::mission_span("m-1", "hello", 1);
            let _entered = span.enter();
            tracing::info!(lead = "x", "inside");
            let cx = opentelemetry::Context::current();
            let ids = cx.span().span_context().clone();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].get("trace_id").is_none());
        assert_eq!(lines[1]["trace_id"], trace_id.as_str());
        assert_eq!(lines[1]["span_id"], span_id.as_str());
        assert_eq!(lines[1]["span"]["rex.mission.id"], "m-1");
        assert_eq!(lines[1]["fields"]["message"], "inside");
    }

    #[test]
    fn without_an_opentelemetry_layer_json_lines_are_untouched() {
        let out = Captured::default();
        let subscriber = tracing_subscriber::registry().with(fmt_layer(
            LogFormat::Json,
            EnvFilter::new("info"),
            out.clone(),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let span = crate::spans::mission_span("m-1", "hello", 1);
            let _entered = span.enter();
            tracing::info!("inside");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert!(line.get("trace_id").is_none());
        assert_eq!(line["span"]["rex.mission.id"], "m-1");
    }
}
