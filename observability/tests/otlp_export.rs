//! Spans made under `init_telemetry` reach a real OTLP gRPC receiver, and one
//! mission stays one trace across a header hop and a stored context.
//!
//! One test per file: `init_telemetry` installs the process-wide subscriber once.

use std::collections::BTreeMap;
use std::time::Duration;

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use rex_observability::spans::{self, DbSystem};
use rex_observability::{
    Export, LogFormat, StepRef, TelemetryConfig, current_context_string, current_trace_id,
    init_telemetry, inject_current, link_to, set_parent, set_parent_from_string,
};

fn by_name<'a>(spans: &'a [ExportedSpan], name: &str) -> &'a ExportedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} in {:#?}", names(spans)))
}

fn names(spans: &[ExportedSpan]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

/// The collector renders attribute values with `Debug`; the value text is inside.
fn attr<'a>(span: &'a ExportedSpan, key: &str) -> &'a str {
    span.attributes
        .get(key)
        .unwrap_or_else(|| panic!("{} has no {key}: {:#?}", span.name, span.attributes))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_mission_is_one_trace_across_a_header_hop_a_timer_and_a_restart() {
    let mut collector = FakeCollectorServer::start().await.expect("fake collector");
    // An explicit endpoint wins over OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
    let guard = init_telemetry(
        TelemetryConfig::new("rex-test")
            .with_log_format(LogFormat::Json)
            .with_default_log_filter("warn")
            .with_export(Export::Endpoint(collector.endpoint())),
    )
    .expect("telemetry");
    assert!(guard.is_exporting());

    let step = StepRef::new("m-1", "greet", 1, "echo", "say");

    // The CLI starts the mission, the orchestrator dispatches and publishes.
    let mission = spans::mission_span("m-1", "hello", 1);
    let (stored, mission_trace, headers) = mission.in_scope(|| {
        let stored = current_context_string().expect("a context to store");
        let mut headers = BTreeMap::new();
        let dispatch = spans::dispatch_span(&step);
        dispatch.in_scope(|| {
            let publish = spans::publish_span("rex.agent.echo", "m-1:greet:1");
            spans::record_step(&publish, &step);
            publish.in_scope(|| inject_current(&mut headers));
        });
        (stored, current_trace_id().expect("a trace id"), headers)
    });
    drop(mission);
    assert!(headers.contains_key("traceparent"), "{headers:?}");

    // "Another process": the worker knows only the headers.
    let process = spans::process_span("rex.agent.echo", "m-1:greet:1");
    assert!(set_parent(&process, &headers));
    process.in_scope(|| {
        let run = spans::step_span(&step);
        run.in_scope(|| {
            let call = spans::http_client_span(
                "POST",
                "https://api.sendgrid.com/v3/mail/send?k=1",
                "sendgrid",
            );
            spans::record_http_status(&call, 202);
            drop(call);
            let _db = spans::db_span(DbSystem::Postgresql, "INSERT", "attempts");
        });
    });
    drop(process);

    // Three days and an orchestrator restart later: only the stored string is left.
    let later = StepRef::new("m-1", "follow-up", 1, "echo", "say");
    let timer_dispatch = spans::dispatch_span(&later);
    assert!(set_parent_from_string(&timer_dispatch, &stored));
    drop(timer_dispatch);

    // A batch span concerning the mission links to it instead.
    let batch = tracing::info_span!("commit batch");
    assert!(link_to(&batch, &stored));
    drop(batch);

    guard.force_flush().expect("flush");
    let spans = collector.exported_spans(9, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 9, "{:#?}", names(&spans));

    let mission = by_name(&spans, "mission hello");
    let dispatch = by_name(&spans, "dispatch greet");
    let publish = by_name(&spans, "publish rex.agent.echo");
    let process = by_name(&spans, "process rex.agent.echo");
    let run = by_name(&spans, "step greet");
    let http = by_name(&spans, "POST");
    let db = by_name(&spans, "INSERT attempts");
    let timer_dispatch = by_name(&spans, "dispatch follow-up");
    let batch = by_name(&spans, "commit batch");

    for span in [
        mission,
        dispatch,
        publish,
        process,
        run,
        http,
        db,
        timer_dispatch,
    ] {
        assert_eq!(
            span.trace_id, mission_trace,
            "{} is in the mission's trace",
            span.name
        );
    }
    assert_eq!(mission.parent_span_id, "", "the mission span is the root");
    assert_eq!(dispatch.parent_span_id, mission.span_id);
    assert_eq!(publish.parent_span_id, dispatch.span_id);
    assert_eq!(
        process.parent_span_id, publish.span_id,
        "the consumer is the publisher's child"
    );
    assert_eq!(run.parent_span_id, process.span_id);
    assert_eq!(http.parent_span_id, run.span_id);
    assert_eq!(db.parent_span_id, run.span_id);
    assert_eq!(
        timer_dispatch.parent_span_id, mission.span_id,
        "the stored context is the parent"
    );

    assert_ne!(batch.trace_id, mission_trace);
    assert_eq!(batch.links.len(), 1);
    assert_eq!(batch.links[0].trace_id, mission_trace);
    assert_eq!(batch.links[0].span_id, mission.span_id);

    assert_eq!(publish.kind, "SPAN_KIND_PRODUCER");
    assert_eq!(process.kind, "SPAN_KIND_CONSUMER");
    assert_eq!(http.kind, "SPAN_KIND_CLIENT");
    assert_eq!(db.kind, "SPAN_KIND_CLIENT");
    assert!(attr(publish, "messaging.system").contains("\"rabbitmq\""));
    assert!(attr(publish, "messaging.destination.name").contains("\"rex.agent.echo\""));
    assert!(attr(publish, "messaging.operation.type").contains("\"send\""));
    assert!(attr(publish, "messaging.message.id").contains("\"m-1:greet:1\""));
    assert!(attr(publish, "rex.mission.id").contains("\"m-1\""));
    assert!(attr(process, "messaging.operation.type").contains("\"process\""));
    for span in [dispatch, run] {
        assert!(attr(span, "rex.mission.id").contains("\"m-1\""));
        assert!(attr(span, "rex.step.id").contains("\"greet\""));
        assert!(
            attr(span, "rex.step.attempt").contains("IntValue(1)"),
            "{}",
            attr(span, "rex.step.attempt")
        );
        assert!(attr(span, "rex.agent").contains("\"echo\""));
    }
    assert!(attr(http, "http.request.method").contains("\"POST\""));
    assert!(attr(http, "http.response.status_code").contains("IntValue(202)"));
    assert!(attr(http, "url.full").contains("\"https://api.sendgrid.com/v3/mail/send\""));
    assert!(attr(http, "server.address").contains("\"api.sendgrid.com\""));
    assert!(attr(http, "server.port").contains("IntValue(443)"));
    assert!(attr(http, "peer.service").contains("\"sendgrid\""));
    assert!(attr(db, "db.system.name").contains("\"postgresql\""));
    assert!(attr(db, "db.collection.name").contains("\"attempts\""));
    // The `otel.*` control fields become the name and kind, not attributes.
    assert!(!publish.attributes.contains_key("otel.kind"));

    guard.shutdown().expect("shutdown");
}
