//! The JSON the API speaks: request and response bodies, with their OpenAPI schemas.
//!
//! Requests deny unknown fields (a typo is a 422 naming it). Responses are built from
//! store rows here, so the wire format does not follow a column rename by accident.

mod campaign;
mod privacy;

pub use campaign::*;
pub use privacy::*;

use chrono::{DateTime, Utc};
use rex_store::{attempts, definitions, missions, steps, timers};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `POST /v1/definitions` and `POST /v1/definitions/validate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionRequest {
    /// The workflow definition as a JSON object (the format of
    /// `definitions/workflow.schema.json`).
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// A stored definition version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefinitionSummary {
    pub name: String,
    pub version: i32,
    pub description: Option<String>,
    /// Hex SHA-256 of the canonical JSON body.
    pub content_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A stored definition version with its body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefinitionDetail {
    #[serde(flatten)]
    pub summary: DefinitionSummary,
    /// The definition, as canonical JSON.
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// The answer of `POST /v1/definitions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoredDefinition {
    #[serde(flatten)]
    pub summary: DefinitionSummary,
    /// False when this exact version was already stored (then the status is 200).
    pub created: bool,
}

/// The answer of `POST /v1/definitions/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidDefinition {
    pub name: String,
    pub version: u32,
    pub steps: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefinitionList {
    pub items: Vec<DefinitionSummary>,
}

/// `POST /v1/missions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// The definition's name.
    pub definition: String,
    /// The version to run; the latest stored when absent.
    pub version: Option<i32>,
    /// The mission's inputs, checked against the definition's declared inputs.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub input: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// The answer of `POST /v1/missions`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StartedMission {
    pub id: Uuid,
    /// False when the `Idempotency-Key` matched a mission started before (status 200).
    pub created: bool,
}

/// A mission in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MissionSummary {
    pub id: Uuid,
    pub definition: String,
    pub definition_version: i32,
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The tenant the mission belongs to (the caller's).
    pub tenant: String,
    /// Steps done (succeeded or skipped) of the mission's steps so far.
    pub progress: Progress,
}

/// How far a mission is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Steps succeeded or skipped.
    pub done: u32,
    /// Steps the mission has (a fan-out step counts once).
    pub total: u32,
}

impl Progress {
    pub fn of(steps: &[&steps::Model]) -> Self {
        Self {
            done: steps
                .iter()
                .filter(|s| matches!(s.status.as_str(), "succeeded" | "skipped"))
                .count() as u32,
            total: steps.len() as u32,
        }
    }
}

/// One run of a step by a worker (its checkpoint).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub step: String,
    pub attempt: i32,
    pub agent: String,
    /// `running`, `succeeded`, `failed`, `deferred` or `skipped`.
    pub status: String,
    pub error: Option<String>,
    /// Whether a failure may be retried; null while running or on success.
    pub retryable: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// finished_at − started_at, in milliseconds; null while running.
    pub duration_ms: Option<i64>,
}

/// A durable timer armed for the mission (a delay, a timeout, a retry back-off, a
/// signal's deadline…).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimerView {
    /// What fires, in the orchestrator's vocabulary (`delay`, `timeout`, `retry`, …).
    pub kind: String,
    pub step: Option<String>,
    pub attempt: Option<i32>,
    pub due_at: DateTime<Utc>,
}

/// A step of the mission's definition, for drawing its graph.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GraphNode {
    pub id: String,
    /// `task`, `wait_until`, `wait_for` (a signal) or `fan_out`.
    pub kind: String,
    /// What it does: `agent.action`, the signal's name, …
    pub label: String,
    pub depends_on: Vec<String>,
}

/// A mission with its input, output and step timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MissionDetail {
    #[serde(flatten)]
    pub summary: MissionSummary,
    #[schema(value_type = Object)]
    pub input: Value,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// The steps in the definition's order.
    pub steps: Vec<StepView>,
    /// Every attempt of every step, oldest first.
    pub attempts: Vec<AttemptView>,
    /// Timers armed now, soonest first.
    pub timers: Vec<TimerView>,
    /// The definition's steps and their dependencies (empty when the definition cannot
    /// be read).
    pub graph: Vec<GraphNode>,
}

/// One step of a mission.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub id: String,
    /// `pending`, `delayed`, `waiting`, `running`, `waiting_retry`, `succeeded`,
    /// `failed`, `cancelled` or `skipped`.
    pub status: String,
    pub attempt: i32,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    pub error: Option<String>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A page of missions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MissionPage {
    pub items: Vec<MissionSummary>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/missions`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MissionQuery {
    /// Only missions in this status.
    pub status: Option<String>,
    /// Only missions of this definition name.
    pub definition: Option<String>,
    /// Only missions created at or after this time (RFC 3339).
    pub created_from: Option<DateTime<Utc>>,
    /// Only missions created before this time (RFC 3339).
    pub created_to: Option<DateTime<Utc>>,
    /// Page size, 1 to 100 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `POST /v1/missions/{id}/cancel` (the body may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why, kept with the mission; default "cancelled through the API".
    pub reason: Option<String>,
}

/// `POST /v1/missions/{id}/retry` (the body may be empty).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// Run again from this step (and every step after it); by default only the steps
    /// that did not succeed.
    pub from: Option<String>,
}

/// `POST /v1/missions/{id}/signals`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    /// The signal's name, e.g. `lead.replied`.
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The sender's id of this signal: the same id twice acts once. Generated when
    /// absent.
    pub id: Option<String>,
}

/// What a cancel, retry or signal did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionOutcome {
    pub id: Uuid,
    /// `applied`, or `ignored` (already finished, a duplicate signal…).
    pub outcome: String,
    /// The signal's id, for signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<String>,
}

/// One event of `GET /v1/missions/{id}/events` (the SSE `data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MissionEvent {
    pub mission_id: Uuid,
    /// The step, or null for the mission's own status.
    pub step: Option<String>,
    pub status: String,
    pub attempt: u32,
}

/// `GET /healthz`, `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&definitions::Model> for DefinitionSummary {
    fn from(d: &definitions::Model) -> Self {
        Self {
            name: d.name.clone(),
            version: d.version,
            description: d.description.clone(),
            content_hash: d.content_hash.clone(),
            created_at: d.created_at,
        }
    }
}

impl From<&missions::Model> for MissionSummary {
    fn from(m: &missions::Model) -> Self {
        Self {
            id: m.id,
            definition: m.definition_name.clone(),
            definition_version: m.definition_version,
            status: m.status.clone(),
            error: m.error.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
            finished_at: m.finished_at,
            tenant: m.tenant_id.clone(),
            progress: Progress::default(),
        }
    }
}

impl From<&attempts::Model> for AttemptView {
    fn from(a: &attempts::Model) -> Self {
        Self {
            step: a.step_id.clone(),
            attempt: a.attempt,
            agent: a.agent.clone(),
            status: a.status.clone(),
            error: a.error.clone(),
            retryable: a.retryable,
            output: a.output.clone(),
            started_at: a.started_at,
            finished_at: a.finished_at,
            duration_ms: a
                .finished_at
                .map(|f| f.signed_duration_since(a.started_at).num_milliseconds()),
        }
    }
}

impl From<&timers::Model> for TimerView {
    fn from(t: &timers::Model) -> Self {
        Self {
            kind: t.kind.clone(),
            step: t.step_id.clone(),
            attempt: t.attempt,
            due_at: t.due_at,
        }
    }
}

impl From<&steps::Model> for StepView {
    fn from(s: &steps::Model) -> Self {
        Self {
            id: s.step_id.clone(),
            status: s.status.clone(),
            attempt: s.attempt,
            output: s.output.clone(),
            error: s.error.clone(),
            dispatched_at: s.dispatched_at,
            finished_at: s.finished_at,
            updated_at: s.updated_at,
        }
    }
}

/// Parameters of `GET /v1/agents`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    /// Seconds of attempt outcomes to count (1 to 86400; default 300).
    pub window: Option<u64>,
}

/// The agents, by name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub items: Vec<AgentView>,
}

/// One agent's queue and work.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub agent: String,
    /// Messages ready in the agent's queue; null when the broker could not say (the
    /// queue was never declared).
    pub queue_ready: Option<u64>,
    /// Consumers on the queue (worker channels serving the agent).
    pub consumers: Option<u32>,
    /// Messages in the agent's dead-letter queue.
    pub dead_letters: Option<u64>,
    /// Dispatched tasks no worker has claimed yet.
    pub queued: u64,
    /// Tasks a worker is running now.
    pub in_flight: u64,
    /// Seconds the longest-waiting queued task has waited; null when none waits.
    pub oldest_queued_seconds: Option<f64>,
    pub recent: RecentView,
}

/// Attempt outcomes within the window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecentView {
    pub window_seconds: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Asked to run later (send windows, caps); not failures.
    pub deferred: u64,
    /// Not run because their mission had ended.
    pub skipped: u64,
    /// failed / (succeeded + failed); null with neither in the window.
    pub error_rate: Option<f64>,
}

impl From<rex_engine::AgentOverview> for AgentView {
    fn from(a: rex_engine::AgentOverview) -> Self {
        Self {
            agent: a.agent,
            queue_ready: a.queue_ready,
            consumers: a.consumers,
            dead_letters: a.dead_letters,
            queued: a.queued,
            in_flight: a.in_flight,
            oldest_queued_seconds: a.oldest_queued_age.map(|d| d.as_secs_f64()),
            recent: RecentView {
                window_seconds: a.recent.window_seconds,
                succeeded: a.recent.succeeded,
                failed: a.recent.failed,
                deferred: a.recent.deferred,
                skipped: a.recent.skipped,
                error_rate: a.recent.error_rate,
            },
        }
    }
}
mod domain;
pub use domain::*;
