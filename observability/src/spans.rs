//! Span constructors following the OpenTelemetry semantic conventions, so every
//! process names and tags the same things the same way.
//!
//! Each returns a `tracing::Span` at INFO level. The `otel.name` field gives the
//! span its OpenTelemetry name (`publish rex.agent.reviver`) and `otel.kind` its
//! kind; fields declared empty are filled later with [`tracing::Span::record`] or the
//! helpers at the bottom. Names stay low-cardinality (queue names, step ids of a
//! definition); ids go in attributes.
//!
//! Integers are recorded as `i64`: `tracing-opentelemetry` exports unsigned
//! values as strings, and Jaeger's tag search compares types.

use std::fmt::Display;

use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::redact::redact_pii;

/// The step a span is about: the `rex.*` attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepRef<'a> {
    pub mission_id: &'a str,
    pub step_id: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub agent: &'a str,
    pub action: &'a str,
}

impl<'a> StepRef<'a> {
    pub fn new(
        mission_id: &'a str,
        step_id: &'a str,
        attempt: u32,
        agent: &'a str,
        action: &'a str,
    ) -> Self {
        Self {
            mission_id,
            step_id,
            attempt,
            agent,
            action,
        }
    }
}

/// The database behind a [`db_span`] (`db.system.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbSystem {
    Postgresql,
    Sqlite,
}

impl DbSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            DbSystem::Postgresql => "postgresql",
            DbSystem::Sqlite => "sqlite",
        }
    }

    /// From a connection URL (`postgres://…`, `sqlite://…`).
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(DbSystem::Postgresql),
            "sqlite" => Some(DbSystem::Sqlite),
            _ => None,
        }
    }
}

/// The root of a mission's trace: the API request or CLI call that starts it.
/// Store [`crate::current_context_string`] taken inside it with the mission.
pub fn mission_span(mission_id: &str, workflow: &str, version: u32) -> Span {
    tracing::info_span!(
        "mission",
        otel.name = %format_args!("mission {workflow}"),
        otel.kind = "internal",
        rex.mission.id = mission_id,
        rex.workflow.name = workflow,
        rex.workflow.version = i64::from(version),
        rex.mission.replay_of = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    )
}

/// Marks a [`mission_span`] whose start was answered by an existing mission (a repeated
/// idempotency key): renamed `mission start replayed {workflow}`, `rex.mission.id` and
/// `rex.mission.replay_of` name the mission that answered, so the exported span never
/// names a mission that does not exist.
pub fn record_mission_replay(span: &Span, workflow: &str, existing_mission_id: &str) {
    // The span's context exists already (its trace context was stored), so the name
    // is changed on the OpenTelemetry span itself: recording `otel.name` would not.
    span.context()
        .span()
        .update_name(format!("mission start replayed {workflow}"));
    span.record("rex.mission.id", existing_mission_id);
    span.record("rex.mission.replay_of", existing_mission_id);
}

/// The orchestrator deciding to run one attempt of a step: parent of the publish
/// span (its parent is the result or timer that made the step ready, or the stored
/// mission context).
pub fn dispatch_span(step: &StepRef<'_>) -> Span {
    tracing::info_span!(
        "dispatch",
        otel.name = %format_args!("dispatch {}", step.step_id),
        otel.kind = "internal",
        rex.mission.id = step.mission_id,
        rex.step.id = step.step_id,
        rex.step.attempt = i64::from(step.attempt),
        rex.agent = step.agent,
        rex.step.action = step.action,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    )
}

/// A worker running one attempt of a step (inside the process span).
pub fn step_span(step: &StepRef<'_>) -> Span {
    tracing::info_span!(
        "step",
        otel.name = %format_args!("step {}", step.step_id),
        otel.kind = "internal",
        rex.mission.id = step.mission_id,
        rex.step.id = step.step_id,
        rex.step.attempt = i64::from(step.attempt),
        rex.agent = step.agent,
        rex.step.action = step.action,
        rex.step.outcome = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    )
}

macro_rules! messaging_span {
    ($name:literal, $operation:literal, $kind:literal, $destination:expr, $message_id:expr) => {
        tracing::info_span!(
            $name,
            otel.name = %format_args!("{} {}", $name, $destination),
            otel.kind = $kind,
            messaging.system = "rabbitmq",
            messaging.operation.type = $operation,
            messaging.operation.name = $name,
            messaging.destination.name = $destination,
            messaging.message.id = $message_id,
            messaging.rabbitmq.destination.routing_key = Empty,
            messaging.rabbitmq.message.delivery_tag = Empty,
            rex.mission.id = Empty,
            rex.step.id = Empty,
            rex.step.attempt = Empty,
            rex.agent = Empty,
            otel.status_code = Empty,
            otel.status_description = Empty,
            error.type = Empty,
        )
    };
}

/// Publishing one message (`publish rex.agent.reviver`, kind producer). Create it,
/// enter it, [`crate::inject_current`] into the message headers, publish and wait
/// for the confirm inside it. `destination` is the queue the message is routed to.
pub fn publish_span(destination: &str, message_id: &str) -> Span {
    messaging_span!("publish", "send", "producer", destination, message_id)
}

/// Taking one message off a queue (`receive …`, kind consumer), for a pull
/// consumer that separates receiving from processing.
pub fn receive_span(destination: &str, message_id: &str) -> Span {
    messaging_span!("receive", "receive", "consumer", destination, message_id)
}

/// Handling one delivered message (`process rex.agent.reviver`, kind consumer),
/// until its ack. Call [`crate::set_parent`] with the message's headers before
/// entering it: it then becomes the publish span's child.
pub fn process_span(destination: &str, message_id: &str) -> Span {
    messaging_span!("process", "process", "consumer", destination, message_id)
}

/// Fills the `rex.*` attributes of a messaging span.
pub fn record_step(span: &Span, step: &StepRef<'_>) {
    span.record("rex.mission.id", step.mission_id);
    span.record("rex.step.id", step.step_id);
    span.record("rex.step.attempt", i64::from(step.attempt));
    span.record("rex.agent", step.agent);
}

/// One database operation (kind client), named `{operation} {collection}` as the
/// conventions ask: `SELECT missions`, `claim timers`. Never put the query's
/// parameters in it.
pub fn db_span(system: DbSystem, operation: &str, collection: &str) -> Span {
    tracing::info_span!(
        "db",
        otel.name = %format_args!("{operation} {collection}"),
        otel.kind = "client",
        db.system.name = system.as_str(),
        db.operation.name = operation,
        db.collection.name = collection,
        db.response.returned_rows = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    )
}

/// One outgoing HTTP request (kind client), named by its method as the
/// conventions ask. `provider` (`sendgrid`, `llm`…) becomes `peer.service`, which
/// Jaeger draws in its dependency graph. The URL's query string and credentials are
/// dropped and personal data in its path redacted before it becomes `url.full`.
pub fn http_client_span(method: &str, url: &str, provider: &str) -> Span {
    let parts = UrlParts::parse(url);
    tracing::info_span!(
        "http",
        otel.name = method,
        otel.kind = "client",
        http.request.method = method,
        url.full = %parts.safe_url,
        server.address = parts.host,
        server.port = parts.port.map(i64::from),
        peer.service = provider,
        http.request.resend_count = Empty,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        error.type = Empty,
    )
}

/// Records an HTTP response status; 4xx and 5xx mark a client span as an error.
pub fn record_http_status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 400 {
        span.record("error.type", status.to_string());
        span.record("otel.status_code", "ERROR");
    }
}

/// Marks a span as failed: `error.type` is a short, low-cardinality kind
/// (`timeout`, `permanent`, an error enum's variant), the description the message.
pub fn record_error(span: &Span, kind: &str, error: &dyn Display) {
    span.record("error.type", kind);
    span.record("otel.status_code", "ERROR");
    span.record(
        "otel.status_description",
        redact_pii(&error.to_string()).as_ref(),
    );
}

/// What a URL may show in a span.
struct UrlParts<'a> {
    safe_url: String,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Self {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let path = rest[end..].split(['?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = match host_port.rsplit_once(':') {
            // An IPv6 literal without a port (`[::1]`) has colons but no `]:`.
            Some((host, port)) if !port.contains(']') => (host, port.parse().ok()),
            _ => (host_port, None),
        };
        let port = port.or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        let safe_url = if scheme.is_empty() {
            format!("{host_port}{}", redact_pii(path))
        } else {
            format!("{scheme}://{host_port}{}", redact_pii(path))
        };
        Self {
            safe_url,
            host: host.trim_start_matches('[').trim_end_matches(']'),
            port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query_credentials_and_personal_data() {
        let p = UrlParts::parse(
            "https://user:secret@api.hunter.io/v2/verify/ann@acme.com?api_key=k&email=a@b.co",
        );
        assert_eq!(p.safe_url, "https://api.hunter.io/v2/verify/[email]");
        assert_eq!(p.host, "api.hunter.io");
        assert_eq!(p.port, Some(443));

        let p = UrlParts::parse("http://127.0.0.1:8080/v1/chat/completions#frag");
        assert_eq!(p.safe_url, "http://127.0.0.1:8080/v1/chat/completions");
        assert_eq!((p.host, p.port), ("127.0.0.1", Some(8080)));

        let p = UrlParts::parse("http://[::1]:4317");
        assert_eq!((p.host, p.port), ("::1", Some(4317)));
        let p = UrlParts::parse("http://[::1]/x");
        assert_eq!((p.host, p.port), ("::1", Some(80)));
    }

    #[test]
    fn the_database_system_is_read_from_the_url() {
        assert_eq!(
            DbSystem::from_url("postgres://u@h/db"),
            Some(DbSystem::Postgresql)
        );
        assert_eq!(
            DbSystem::from_url("sqlite://rex.db?mode=rwc"),
            Some(DbSystem::Sqlite)
        );
        assert_eq!(DbSystem::from_url("mysql://x"), None);
    }
}
