//! What an agent is, and the registry of the agents a worker process can run.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// An attempt's error. The flag decides whether the engine tries again; `defer_until`
/// makes it a deferral instead of a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
    pub retryable: bool,
    /// Not a failure: the step cannot act yet and runs again at this time, with its
    /// retry budget intact (`Outcome::Deferred`).
    pub defer_until: Option<DateTime<Utc>>,
}

impl StepError {
    /// A failure that may pass on a later attempt (timeouts, 429, 5xx).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            defer_until: None,
        }
    }

    /// A failure that no retry can fix (bad input, 4xx, a suppressed address).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            defer_until: None,
        }
    }

    /// Not yet: run this step again at `until` (outside the send window, a daily cap
    /// spent). The attempt is recorded as `deferred`, not failed.
    pub fn defer(until: DateTime<Utc>, reason: impl Into<String>) -> Self {
        Self {
            message: reason.into(),
            retryable: true,
            defer_until: Some(until),
        }
    }
}

/// What an agent knows about the attempt it runs.
#[derive(Debug, Clone)]
pub struct TaskContext {
    pub mission_id: String,
    pub step_id: String,
    pub attempt: u32,
    pub action: String,
    /// Unique per attempt; pass it to providers that accept one.
    pub idempotency_key: String,
    /// The slug of the tenant the mission belongs to, which the task acts for.
    pub tenant: String,
    /// Cancelled when the step's mission has ended (cancelled, failed) — seen within
    /// the worker's `cancel_poll`, 2 s by default — or when the worker shuts down and
    /// the grace period ran out. A long-running agent should stop soon after: what it
    /// returns then is recorded, never retried for an ended mission.
    pub cancel: CancellationToken,
}

/// A kind of worker: consumes one queue (`rex.agent.<name>`) and runs its actions.
#[async_trait]
pub trait Agent: Send + Sync + 'static {
    /// The agent's name: the queue it consumes and the `agent` of steps it runs.
    fn name(&self) -> &'static str;
    /// The actions it accepts; a task with another action fails permanently.
    fn actions(&self) -> &'static [&'static str];
    /// Runs one attempt.
    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError>;
}

/// The agents a process can run, by name.
#[derive(Clone, Default)]
pub struct Registry {
    agents: BTreeMap<&'static str, Arc<dyn Agent>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine's built-in agents (`noop`, `echo`, `sleep`, `fail`).
    pub fn builtin() -> Self {
        let mut r = Self::new();
        for agent in crate::builtin::all() {
            r.register(agent);
        }
        r
    }

    pub fn register(&mut self, agent: Arc<dyn Agent>) {
        self.agents.insert(agent.name(), agent);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Agent>> {
        self.agents.get(name).cloned()
    }

    /// Every registered agent name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.agents.keys().map(|k| (*k).to_owned()).collect()
    }

    /// The agents called `names`, or an error naming the first unknown one.
    pub fn select(&self, names: &[String]) -> Result<Vec<Arc<dyn Agent>>, crate::WorkerError> {
        names
            .iter()
            .map(|n| {
                self.get(n).ok_or_else(|| crate::WorkerError::UnknownAgent {
                    name: n.clone(),
                    known: self.names().join(", "),
                })
            })
            .collect()
    }
}
