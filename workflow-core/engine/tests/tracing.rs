//! One trace per mission, on the real services, exported over OTLP to a real gRPC
//! receiver: the worker's spans are children (through the AMQP headers) of the
//! orchestrator's publish spans, and a step dispatched after a timer and an
//! orchestrator restart still lands in the mission's trace.
//!
//! One test in this file: it installs the process-wide tracing subscriber.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use rex_engine::StartMission;
use rex_observability::{Export, LogFormat, TelemetryConfig, init_telemetry};
use serde_json::json;
use support::{Backend, Harness};

/// The collector renders attribute values with `Debug` (`Some(AnyValue { … })`):
/// the value's own text is inside.
fn attr<'a>(span: &'a ExportedSpan, key: &str) -> Option<&'a str> {
    span.attributes.get(key).map(String::as_str)
}

fn has_attr(span: &ExportedSpan, key: &str, value: &str) -> bool {
    attr(span, key).is_some_and(|v| v.contains(&format!("{value:?}")) || v == value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mission_is_one_trace_across_rabbitmq_a_timer_and_a_restart() {
    // SAFETY of the test's assumptions: the explicit endpoint wins over env settings.
    let mut collector = FakeCollectorServer::start().await.expect("fake collector");
    let guard = init_telemetry(
        TelemetryConfig::new("rex-test")
            .with_log_format(LogFormat::Json)
            .with_default_log_filter("warn")
            .with_export(Export::Endpoint(collector.endpoint())),
    )
    .expect("telemetry");

    let mut h = Harness::new(Backend::Production).await;
    let orchestrator = h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: traced
version: 1
steps:
  - {id: one, agent: echo, action: echo, input: {n: 1}}
  - {id: two, agent: echo, action: echo, input: {n: 2}, depends_on: [one]}
  - {id: three, agent: noop, action: noop, depends_on: [two], delay: 2s}
"#,
    )
    .await;
    let id = h.start("traced", json!({})).await;
    // While `three` waits on its timer, the orchestrator goes away and a new one comes.
    for _ in 0..200 {
        if h.steps(id).await["three"].status == "delayed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    orchestrator.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.spawn_orchestrator().await;
    let m = h.wait(id, Duration::from_secs(20)).await;
    assert_eq!(m.status, "succeeded");
    let stored = m
        .trace_context
        .clone()
        .expect("the mission stores its trace context");

    // A start repeated with its idempotency key is answered by the first mission: its
    // span names that mission, never the id it would have had.
    h.push("{name: replayed, version: 1, steps: [{id: only, agent: noop, action: noop}]}")
        .await;
    let keyed = || StartMission {
        definition: "replayed".into(),
        idempotency_key: Some("tracing-replay".into()),
        ..StartMission::default()
    };
    let first = h.engine.start_mission(keyed()).await.expect("first start");
    let again = h.engine.start_mission(keyed()).await.expect("second start");
    assert_eq!((again.id, again.created), (first.id, false));

    guard.force_flush().expect("flush");
    let mission_id = id.to_string();
    // mission + per step (dispatch, publish, process, step) + the results' publish spans.
    let mut spans = Vec::new();
    for _ in 0..40 {
        spans.extend(
            collector
                .exported_spans(1, Duration::from_millis(250))
                .await,
        );
        let steps = spans
            .iter()
            .filter(|s| s.name.starts_with("step ") && has_attr(s, "rex.mission.id", &mission_id))
            .count();
        let replayed = spans
            .iter()
            .any(|s| s.name == "mission start replayed replayed");
        if steps >= 3 && replayed {
            break;
        }
    }
    let mission = spans
        .iter()
        .find(|s| s.name == "mission traced")
        .expect("the mission's root span");
    let trace = mission.trace_id.clone();
    assert!(
        stored.contains(&trace),
        "stored {stored} is in trace {trace}"
    );
    let ours: Vec<&ExportedSpan> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let by_id: HashMap<&str, &ExportedSpan> =
        ours.iter().map(|s| (s.span_id.as_str(), *s)).collect();

    for step in ["one", "two", "three"] {
        let run = ours
            .iter()
            .find(|s| s.name == format!("step {step}"))
            .unwrap_or_else(|| panic!("no span of step {step} in the mission's trace"));
        let process = by_id[run.parent_span_id.as_str()];
        assert!(
            process.name.starts_with("process rex.agent."),
            "{}",
            process.name
        );
        assert!(
            has_attr(process, "messaging.system", "rabbitmq"),
            "{:?}",
            process.attributes
        );
        assert!(has_attr(process, "messaging.operation.type", "process"));
        assert!(has_attr(process, "rex.step.id", step));
        assert!(has_attr(process, "rex.mission.id", &mission_id));
        assert!(attr(process, "rex.step.attempt").is_some());
        assert!(attr(process, "rex.agent").is_some());
        let publish = by_id
            .get(process.parent_span_id.as_str())
            .unwrap_or_else(|| panic!("the worker's span of {step} has no publish parent"));
        assert!(
            publish.name.starts_with("publish rex.agent."),
            "{}",
            publish.name
        );
        assert!(has_attr(publish, "messaging.operation.type", "send"));
        assert!(attr(publish, "messaging.destination.name").is_some());
        let dispatch = by_id[publish.parent_span_id.as_str()];
        assert_eq!(dispatch.name, format!("dispatch {step}"));
        assert_eq!(
            dispatch.parent_span_id, mission.span_id,
            "{step} was dispatched under the mission's stored context"
        );
    }

    let replay = spans
        .iter()
        .find(|s| s.name == "mission start replayed replayed")
        .unwrap_or_else(|| {
            panic!(
                "the repeated start's span among {:?}",
                spans
                    .iter()
                    .filter(|s| s.name.starts_with("mission"))
                    .map(|s| (&s.name, attr(s, "rex.mission.id")))
                    .collect::<Vec<_>>()
            )
        });
    let first_id = first.id.to_string();
    assert!(
        has_attr(replay, "rex.mission.id", &first_id),
        "{:?}",
        replay.attributes
    );
    assert!(has_attr(replay, "rex.mission.replay_of", &first_id));
    let started: Vec<&str> = spans
        .iter()
        .filter(|s| s.name.starts_with("mission "))
        .filter_map(|s| attr(s, "rex.mission.id"))
        .collect();
    for named in &started {
        assert!(
            [&mission_id, &first_id]
                .iter()
                .any(|m| named.contains(m.as_str())),
            "a mission span names {named}, which is neither started mission"
        );
    }
    h.finish().await;
    drop(guard);
}
