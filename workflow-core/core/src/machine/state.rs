//! Mission and step state as the machine sees it; the store persists it column by column.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::workflow::Workflow;

/// Lifecycle of a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissionStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Lifecycle of a step within a mission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Waiting for its dependencies.
    Pending,
    /// Dependencies done; waiting out the step's `delay` (a timer is armed).
    Delayed,
    /// A `wait_until` or `wait_for` step in progress.
    Waiting,
    /// A task for the current attempt is published or being worked on.
    Running,
    /// The last attempt failed; a retry timer is armed.
    WaitingRetry,
    Succeeded,
    Failed,
    /// Never finished because the mission ended first.
    Cancelled,
    /// Not run, and counted as done for the steps after it (`on_signal: skip_to`).
    Skipped,
}

/// A status string that is not one of ours (e.g. a row written by a newer version).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok($ty::$variant),)+ other => Err(UnknownStatus(other.to_owned())) }
            }
        }
    };
}

string_enum!(MissionStatus {
    Pending => "pending",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
});

string_enum!(StepStatus {
    Pending => "pending",
    Delayed => "delayed",
    Waiting => "waiting",
    Running => "running",
    WaitingRetry => "waiting_retry",
    Succeeded => "succeeded",
    Failed => "failed",
    Cancelled => "cancelled",
    Skipped => "skipped",
});

impl MissionStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            MissionStatus::Succeeded | MissionStatus::Failed | MissionStatus::Cancelled
        )
    }
}

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Cancelled
                | StepStatus::Skipped
        )
    }

    /// Done in the sense its dependants care about: they may start.
    pub fn is_done(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Skipped)
    }
}

/// One step's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub status: StepStatus,
    /// The current (or last) attempt; 0 before the first dispatch.
    pub attempt: u32,
    /// The resolved input of the current attempt.
    pub input: Option<Value>,
    pub output: Option<Value>,
    /// The last error, kept while a retry is pending and after a failure.
    pub error: Option<String>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The attempt number before the current run: a retried mission restarts each reset
    /// step's retry budget here while attempt numbers (and idempotency keys) keep
    /// growing, so an old checkpoint never answers a new attempt.
    pub retry_base: u32,
    /// A fan-out step's counts while (and after) it runs its children.
    pub fanout: Option<FanState>,
}

/// Counts of a fan-out's current attempt: the children themselves are missions of their
/// own, so the step's row stays small whatever the number of items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FanState {
    /// Items in the list (1 for a single child mission).
    pub total: u32,
    /// Items started as child missions so far, from index 0.
    pub started: u32,
    pub succeeded: u32,
    pub failed: u32,
}

impl FanState {
    /// Children started and not finished.
    pub fn running(&self) -> u32 {
        self.started
            .saturating_sub(self.succeeded.saturating_add(self.failed))
    }

    /// Whether every item has started and finished.
    pub fn is_complete(&self) -> bool {
        self.started == self.total && self.running() == 0
    }
}

impl StepState {
    pub fn new() -> Self {
        Self {
            status: StepStatus::Pending,
            attempt: 0,
            input: None,
            output: None,
            error: None,
            dispatched_at: None,
            finished_at: None,
            retry_base: 0,
            fanout: None,
        }
    }
}

impl Default for StepState {
    fn default() -> Self {
        Self::new()
    }
}

/// A mission's whole state: what [`crate::machine::apply`] reads and changes.
#[derive(Debug, Clone, PartialEq)]
pub struct MissionState {
    /// The mission id, as text; seeds the retry jitter so it is reproducible.
    pub id: String,
    pub status: MissionStatus,
    /// The bound mission input (defaults filled in).
    pub input: Value,
    /// One entry per workflow step, same order as [`Workflow::steps`].
    pub steps: Vec<StepState>,
    pub output: Option<Value>,
    pub error: Option<String>,
    /// Signals received, oldest first: used ones and those buffered for a `wait_for`.
    pub signals: Vec<SignalRecord>,
}

/// A signal the mission received.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// Sender-chosen id: a second signal with the same id is the same signal.
    pub id: String,
    pub name: String,
    pub payload: Value,
    pub received_at: DateTime<Utc>,
    /// What used it: a step id, or `on_signal`; `None` while buffered.
    pub consumed_by: Option<String>,
}

impl MissionState {
    /// A new, not yet started mission of `workflow`.
    pub fn new(id: impl Into<String>, workflow: &Workflow, input: Value) -> Self {
        Self {
            id: id.into(),
            status: MissionStatus::Pending,
            input,
            steps: vec![StepState::new(); workflow.steps.len()],
            output: None,
            error: None,
            signals: Vec::new(),
        }
    }
}
