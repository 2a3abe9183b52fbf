//! W3C trace context over plain string maps (the broker's message headers) and over
//! one string (stored with a mission), so a trace crosses RabbitMQ, restarts and
//! timers.

use std::collections::BTreeMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header carrying version, trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header carrying vendor-specific trace state; absent when empty.
pub const TRACESTATE: &str = "tracestate";

struct MapInjector<'a>(&'a mut BTreeMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` is legal but says nothing; keep headers small.
        if !value.is_empty() {
            self.0.insert(key.to_owned(), value);
        }
    }
}

struct MapExtractor<'a>(&'a BTreeMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // AMQP header names are case-sensitive, HTTP's are not; accept what an
        // HTTP-minded producer may have written.
        self.0
            .get(key)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(key))
                    .map(|(_, value)| value)
            })
            .map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Writes `traceparent` (and `tracestate` when there is one) of `cx` into
/// `headers`. Does nothing when `cx` holds no valid span, so a process without an
/// exporter sends no trace headers.
pub fn inject_context(cx: &Context, headers: &mut BTreeMap<String, String>) {
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(cx, &mut MapInjector(headers));
    }
}

/// Writes the trace context of the current `tracing` span into `headers`: call it
/// inside the publish span, so the consumer's span becomes that span's child.
pub fn inject_current(headers: &mut BTreeMap<String, String>) {
    inject_context(&tracing::Span::current().context(), headers);
}

/// The remote context carried by `headers`; an empty context when they carry none
/// or a malformed one (a bad header never fails a message).
pub fn extract(headers: &BTreeMap<String, String>) -> Context {
    TraceContextPropagator::new().extract(&MapExtractor(headers))
}

/// Makes `span` a child of the context carried by `headers`. Call it right after
/// creating the span, before entering it. Returns whether a parent was set (false:
/// no valid context in the headers, no OpenTelemetry layer, or the span already
/// started).
pub fn set_parent(span: &tracing::Span, headers: &BTreeMap<String, String>) -> bool {
    set_parent_context(span, extract(headers))
}

fn set_parent_context(span: &tracing::Span, cx: Context) -> bool {
    cx.span().span_context().is_valid() && span.set_parent(cx).is_ok()
}

/// `cx` as one string: its `traceparent`, then, if there is a trace state, one
/// space and the `tracestate`. `None` when `cx` holds no valid span.
pub fn context_to_string(cx: &Context) -> Option<String> {
    let mut headers = BTreeMap::new();
    inject_context(cx, &mut headers);
    let parent = headers.remove(TRACEPARENT)?;
    Some(match headers.remove(TRACESTATE) {
        Some(state) => format!("{parent} {state}"),
        None => parent,
    })
}

/// The current span's context as one string, to store with a mission when it
/// starts (see the crate docs on trace continuity).
pub fn current_context_string() -> Option<String> {
    context_to_string(&tracing::Span::current().context())
}

/// Reads what [`context_to_string`] wrote; an empty context when `stored` is
/// not a valid trace context.
pub fn context_from_string(stored: &str) -> Context {
    let stored = stored.trim();
    let mut headers = BTreeMap::new();
    let (parent, state) = match stored.split_once(' ') {
        Some((parent, state)) => (parent, Some(state.trim())),
        None => (stored, None),
    };
    headers.insert(TRACEPARENT.to_owned(), parent.to_owned());
    if let Some(state) = state {
        headers.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    extract(&headers)
}

/// Makes `span` a child of a stored mission context: the span joins the
/// mission's trace (same trace id) however long after, and in whatever process,
/// it starts. This is how a step dispatched by a timer or after a restart rejoins
/// its mission. Same rules as [`set_parent`].
pub fn set_parent_from_string(span: &tracing::Span, stored: &str) -> bool {
    set_parent_context(span, context_from_string(stored))
}

/// Adds a span link from `span` to the stored context, without making it a
/// parent: for work that concerns a mission but belongs to another trace, such as
/// one orchestrator batch committing the results of many missions. Returns whether
/// a link was added (false: nothing valid stored).
pub fn link_to(span: &tracing::Span, stored: &str) -> bool {
    let cx = context_from_string(stored);
    let linked = cx.span().span_context().clone();
    if !linked.is_valid() {
        return false;
    }
    span.add_link(linked);
    true
}

/// The trace id of `cx` in hex (what Jaeger's search box takes), if it has one.
pub fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let ids = span.span_context();
    ids.is_valid().then(|| ids.trace_id().to_string())
}

/// The trace id of the current span: print it when a mission starts, so its trace
/// can be found in Jaeger.
pub fn current_trace_id() -> Option<String> {
    trace_id(&tracing::Span::current().context())
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::spans;

    /// Runs `f` under a subscriber with an OpenTelemetry layer (no exporter: ids are
    /// real, nothing leaves the process).
    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(crate::setup::otel_layer(&provider, "info"));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn ids(span: &tracing::Span) -> SpanContext {
        span.context().span().span_context().clone()
    }

    #[test]
    fn a_header_hop_keeps_the_trace_and_parents_the_consumer_on_the_publisher() {
        traced(|| {
            let publish = spans::publish_span("rex.agent.reviver", "m:s:1");
            let mut headers = BTreeMap::new();
            publish.in_scope(|| inject_current(&mut headers));
            let sent = ids(&publish);
            assert!(headers[TRACEPARENT].contains(&sent.trace_id().to_string()));

            let process = spans::process_span("rex.agent.reviver", "m:s:1");
            assert!(set_parent(&process, &headers));
            let received = process.context();
            let received_span = received.span();
            assert_eq!(received_span.span_context().trace_id(), sent.trace_id());
            assert_ne!(received_span.span_context().span_id(), sent.span_id());
            // The extracted remote context is the new span's parent.
            assert_eq!(
                extract(&headers).span().span_context().span_id(),
                sent.span_id()
            );
        });
    }

    #[test]
    fn nothing_is_injected_outside_a_traced_span() {
        let mut headers = BTreeMap::new();
        inject_current(&mut headers);
        assert!(headers.is_empty());
        assert_eq!(current_context_string(), None);
        assert_eq!(current_trace_id(), None);
    }

    #[test]
    fn a_bad_or_missing_header_gives_an_empty_context_and_sets_no_parent() {
        traced(|| {
            for value in [
                "",
                "garbage",
                "00-0-0-01",
                "00-00000000000000000000000000000000-0000000000000000-01",
            ] {
                let headers = BTreeMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
                assert!(
                    !extract(&headers).span().span_context().is_valid(),
                    "{value}"
                );
                assert!(!set_parent(&spans::process_span("q", "id"), &headers));
            }
            assert!(!set_parent(
                &spans::process_span("q", "id"),
                &BTreeMap::new()
            ));
        });
    }

    #[test]
    fn header_names_are_matched_without_regard_to_case() {
        let headers = BTreeMap::from([(
            "Traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        assert_eq!(
            trace_id(&extract(&headers)).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn a_stored_context_round_trips_with_its_trace_state() {
        let state = TraceState::from_key_value([("rex", "t1"), ("vendor", "x")]).unwrap();
        let original = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            state,
        );
        let cx = Context::new().with_remote_span_context(original.clone());
        let stored = context_to_string(&cx).unwrap();
        assert_eq!(
            stored,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 rex=t1,vendor=x"
        );
        let back = context_from_string(&stored);
        let back_span = back.span();
        let back = back_span.span_context();
        assert_eq!(back.trace_id(), original.trace_id());
        assert_eq!(back.span_id(), original.span_id());
        assert_eq!(back.trace_flags(), original.trace_flags());
        assert_eq!(back.trace_state().header(), "rex=t1,vendor=x");
    }

    #[test]
    fn a_span_started_from_a_stored_context_joins_the_mission_trace() {
        traced(|| {
            let mission = spans::mission_span("m-1", "hello", 1);
            let stored = mission.in_scope(current_context_string).unwrap();
            assert!(!stored.contains(' '), "no trace state: {stored}");
            let mission_ids = ids(&mission);
            drop(mission);

            // Days later, in another process.
            let step = crate::StepRef::new("m-1", "greet", 1, "echo", "say");
            let dispatch = spans::dispatch_span(&step);
            assert!(set_parent_from_string(&dispatch, &stored));
            assert_eq!(ids(&dispatch).trace_id(), mission_ids.trace_id());
            assert_eq!(
                context_from_string(&stored).span().span_context().span_id(),
                mission_ids.span_id()
            );

            // A link instead keeps the trace of the span it is added to.
            let batch = tracing::info_span!("commit batch");
            assert!(link_to(&batch, &stored));
            assert_ne!(ids(&batch).trace_id(), mission_ids.trace_id());
            assert!(!link_to(&batch, "not a context"));
        });
    }
}
