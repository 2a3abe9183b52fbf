//! The mission state machine: `apply(state, workflow, event, now) -> commands`.
//!
//! The machine decides, the edge does: [`apply`] mutates a [`MissionState`] and returns
//! [`Command`]s (dispatch a task, arm a timer, finish the mission) as data. The
//! orchestrator commits the new state and the commands' outbox rows in one transaction
//! and performs them afterwards. Every event is checked against the current state first,
//! so a duplicate or stale event (an old attempt, a finished step, a finished mission)
//! changes nothing and yields no command.

mod apply;
mod fanout;
mod state;
mod waits;

pub use apply::{Applied, apply};
pub use state::{
    FanState, MissionState, MissionStatus, SignalRecord, StepState, StepStatus, UnknownStatus,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workflow::StepIndex;

/// Something that happened to a mission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The mission was created; dispatch its root steps.
    Start,
    /// A worker finished an attempt successfully.
    StepSucceeded {
        step: String,
        attempt: u32,
        output: Value,
    },
    /// A worker finished an attempt with an error.
    StepFailed {
        step: String,
        attempt: u32,
        error: StepFailure,
    },
    /// A worker's attempt found the step cannot act yet (a send window, a spent daily
    /// cap) and asks to be run again at `until`. Not a failure: the retry budget starts
    /// again at the next attempt.
    StepDeferred {
        step: String,
        attempt: u32,
        until: DateTime<Utc>,
        reason: String,
    },
    /// A durable timer came due.
    TimerFired(TimerKind),
    /// Someone asked to stop the mission.
    Cancel { reason: String },
    /// A signal for the mission (directly, or through one of its correlation keys).
    Signal {
        id: String,
        name: String,
        payload: Value,
    },
    /// Run a failed or cancelled mission again from its unfinished steps, or from
    /// `from` and every step after it; finished steps keep their outputs.
    Retry { from: Option<String> },
    /// A child mission of fan-out `step` (at the step's `attempt`) finished. The child
    /// sends it bare; the engine adds the `tally` of all the step's children from the
    /// store before applying it, so a duplicate or a late one is harmless.
    ChildFinished {
        step: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tally: Option<ChildTally>,
    },
}

/// The children of one fan-out attempt, counted from the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChildTally {
    pub succeeded: u32,
    pub failed: u32,
    /// The failed items, by index; at least the first one once any has failed.
    pub failures: Vec<ItemFailure>,
    /// Every child's output in item order (null for a failed one), once all have
    /// finished.
    pub results: Option<Vec<Value>>,
}

/// One failed item of a fan-out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    pub index: u32,
    pub error: String,
}

/// An attempt's error as the worker reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    pub message: String,
    /// False for a permanent error: no further attempt is made.
    pub retryable: bool,
}

/// What a durable timer is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerKind {
    /// Dispatch `attempt` of `step` after a back-off.
    Retry { step: String, attempt: u32 },
    /// `attempt` of `step` has run too long.
    Timeout { step: String, attempt: u32 },
    /// The `delay` of `step` has passed: start it.
    Delay { step: String, attempt: u32 },
    /// The moment a `wait_until` step waits for has come.
    WaitUntil { step: String, attempt: u32 },
    /// A `wait_for` step waited its `timeout` without the signal.
    WaitTimeout { step: String, attempt: u32 },
}

impl TimerKind {
    /// The stable name stored in the timers table.
    pub fn name(&self) -> &'static str {
        match self {
            TimerKind::Retry { .. } => "retry",
            TimerKind::Timeout { .. } => "timeout",
            TimerKind::Delay { .. } => "delay",
            TimerKind::WaitUntil { .. } => "wait_until",
            TimerKind::WaitTimeout { .. } => "wait_timeout",
        }
    }

    pub fn step(&self) -> &str {
        match self {
            TimerKind::Retry { step, .. }
            | TimerKind::Timeout { step, .. }
            | TimerKind::Delay { step, .. }
            | TimerKind::WaitUntil { step, .. }
            | TimerKind::WaitTimeout { step, .. } => step,
        }
    }

    pub fn attempt(&self) -> u32 {
        match self {
            TimerKind::Retry { attempt, .. }
            | TimerKind::Timeout { attempt, .. }
            | TimerKind::Delay { attempt, .. }
            | TimerKind::WaitUntil { attempt, .. }
            | TimerKind::WaitTimeout { attempt, .. } => *attempt,
        }
    }

    /// Rebuilds a timer kind from its stored columns; `None` for an unknown kind.
    pub fn from_parts(kind: &str, step: String, attempt: u32) -> Option<TimerKind> {
        match kind {
            "retry" => Some(TimerKind::Retry { step, attempt }),
            "timeout" => Some(TimerKind::Timeout { step, attempt }),
            "delay" => Some(TimerKind::Delay { step, attempt }),
            "wait_until" => Some(TimerKind::WaitUntil { step, attempt }),
            "wait_timeout" => Some(TimerKind::WaitTimeout { step, attempt }),
            _ => None,
        }
    }
}

/// An effect the orchestrator must carry out after committing the new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Publish a task for `attempt` of `step` to its agent's queue.
    Dispatch(Task),
    /// Persist a timer that fires `kind` at `due`.
    ArmTimer { kind: TimerKind, due: DateTime<Utc> },
    /// Start these items of fan-out `step` as child missions.
    SpawnChildren {
        step: StepIndex,
        attempt: u32,
        children: Vec<ChildSpec>,
    },
    /// Cancel the unfinished children of fan-out `step` at `attempt`.
    CancelChildren { step: StepIndex, attempt: u32 },
    /// The mission reached a terminal state: drop its timers, record the outcome.
    Finish {
        status: MissionStatus,
        output: Option<Value>,
        error: Option<String>,
    },
}

/// One item of a fan-out, ready to start as a child mission.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildSpec {
    pub index: u32,
    /// The resolved item input: the child workflow's mission input, or the task input
    /// of an item of a task fan-out.
    pub input: Value,
}

/// One attempt of one step, ready to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub step: StepIndex,
    pub step_id: String,
    pub attempt: u32,
    pub agent: String,
    pub action: String,
    pub input: Value,
}

/// The idempotency key of one attempt: also the AMQP message id of its task.
pub fn idempotency_key(mission_id: &str, step_id: &str, attempt: u32) -> String {
    format!("{mission_id}:{step_id}:{attempt}")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod fanout_tests;
