//! The messages that travel between the orchestrator and the workers, and the AMQP
//! header names they carry. Plain serde data: the broker moves bytes, this module says
//! what the bytes mean.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Header carrying the mission id of a task or result.
pub const HEADER_MISSION: &str = "x-rex-mission-id";
/// Header carrying the step id.
pub const HEADER_STEP: &str = "x-rex-step-id";
/// Header carrying the attempt number.
pub const HEADER_ATTEMPT: &str = "x-rex-attempt";
/// Header carrying the message kind (`task`, `result` or `event`).
pub const HEADER_KIND: &str = "x-rex-kind";
/// [`HEADER_KIND`] of an [`EventMessage`].
pub const KIND_EVENT: &str = "event";

/// An event for a mission that the engine sends itself through the results queue: a
/// child mission telling its parent it finished, a parent cancelling its children. It
/// goes through the outbox like a task, so it is sent exactly when the change that
/// caused it commits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    pub mission_id: String,
    pub event: crate::machine::Event,
}

/// One attempt of one step, as published to the agent's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMessage {
    pub mission_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub agent: String,
    pub action: String,
    pub input: Value,
    /// `mission:step:attempt`; also the AMQP message id.
    pub idempotency_key: String,
    pub dispatched_at: DateTime<Utc>,
    /// The slug of the tenant the mission belongs to: the one the task acts for.
    /// [`DEFAULT_TENANT`] on a message published before the field existed.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

/// The tenant of missions started outside the HTTP API (the CLI, `rex dev`, the
/// demo): the operator's own, whose tasks may act for any tenant they name.
pub const DEFAULT_TENANT: &str = "default";

fn default_tenant() -> String {
    DEFAULT_TENANT.to_owned()
}

/// A worker's answer for one attempt, as published to the results queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    pub mission_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub idempotency_key: String,
    pub outcome: Outcome,
    /// Which worker process produced it (for debugging; never used for identity).
    pub worker: String,
    pub finished_at: DateTime<Utc>,
}

/// What an attempt produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded {
        output: Value,
    },
    Failed {
        message: String,
        retryable: bool,
    },
    /// Not yet: run the step again at `until` (a send window, a spent cap).
    Deferred {
        until: DateTime<Utc>,
        reason: String,
    },
}

impl ResultMessage {
    /// The state machine event this result stands for.
    pub fn to_event(&self) -> crate::machine::Event {
        use crate::machine::{Event, StepFailure};
        match &self.outcome {
            Outcome::Succeeded { output } => Event::StepSucceeded {
                step: self.step_id.clone(),
                attempt: self.attempt,
                output: output.clone(),
            },
            Outcome::Deferred { until, reason } => Event::StepDeferred {
                step: self.step_id.clone(),
                attempt: self.attempt,
                until: *until,
                reason: reason.clone(),
            },
            Outcome::Failed { message, retryable } => Event::StepFailed {
                step: self.step_id.clone(),
                attempt: self.attempt,
                error: StepFailure {
                    message: message.clone(),
                    retryable: *retryable,
                },
            },
        }
    }
}

/// Where time comes from. The engine's loops read it through this trait so tests can
/// drive time by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_round_trips_and_maps_to_its_event() {
        let msg = ResultMessage {
            mission_id: "m".into(),
            step_id: "a".into(),
            attempt: 2,
            idempotency_key: "m:a:2".into(),
            outcome: Outcome::Failed {
                message: "smtp 451".into(),
                retryable: true,
            },
            worker: "w1".into(),
            finished_at: Utc::now(),
        };
        let bytes = serde_json::to_vec(&msg).unwrap();
        let back: ResultMessage = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, msg);
        assert!(matches!(
            back.to_event(),
            crate::machine::Event::StepFailed { attempt: 2, .. }
        ));
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v["outcome"],
            json!({"status": "failed", "message": "smtp 451", "retryable": true})
        );
    }
}
