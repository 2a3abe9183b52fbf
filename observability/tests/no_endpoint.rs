//! Without an endpoint, `init_telemetry` installs logs only: no exporter, no
//! OpenTelemetry layer, nothing to flush and nothing that blocks.
//!
//! One test per file: `init_telemetry` installs the process-wide subscriber once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rex_observability::spans;
use rex_observability::{
    Export, TelemetryConfig, TelemetryError, current_context_string, current_trace_id,
    init_telemetry, inject_current, set_parent,
};

#[test]
fn without_an_endpoint_no_exporter_runs_and_nothing_blocks() {
    let started = Instant::now();
    let guard = init_telemetry(TelemetryConfig::new("rex-test").with_export(Export::Off))
        .expect("logs only");
    assert!(!guard.is_exporting());

    let span = spans::publish_span("rex.agent.echo", "m-1:greet:1");
    span.in_scope(|| {
        let mut headers = BTreeMap::new();
        inject_current(&mut headers);
        assert!(
            headers.is_empty(),
            "no trace headers without a tracer: {headers:?}"
        );
        assert_eq!(current_context_string(), None);
        assert_eq!(current_trace_id(), None);
    });
    let remote = BTreeMap::from([(
        "traceparent".to_owned(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
    )]);
    assert!(!set_parent(&spans::process_span("q", "id"), &remote));

    // A second installation is refused and changes nothing.
    assert!(matches!(
        init_telemetry(TelemetryConfig::default()),
        Err(TelemetryError::AlreadyInstalled)
    ));
    rex_observability::init(rex_observability::LogFormat::Json, "info");

    guard.force_flush().expect("nothing to flush");
    guard.shutdown().expect("nothing to stop");
    rex_observability::shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}
