//! The compiled form of a definition: what validation produces and the state machine runs.
//!
//! A [`Workflow`] is only ever built by [`crate::validate()`], so every invariant the state
//! machine relies on holds here: step ids are unique, `depends_on` holds indices of real
//! steps, the graph is acyclic, and every `${steps.x.output…}` reference names an ancestor.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::template::{Expr, Template};

/// A validated, immutable workflow definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub version: u32,
    pub description: Option<String>,
    pub inputs: BTreeMap<String, InputSpec>,
    /// Steps in definition order; `StepIndex` values index into this vector.
    pub steps: Vec<Step>,
    /// Mission-wide reactions to signals, by signal name.
    pub on_signal: BTreeMap<String, SignalAction>,
    /// Keys the mission listens on for published events (templates over inputs).
    pub correlation_keys: Vec<Template>,
}

/// Position of a step in [`Workflow::steps`].
pub type StepIndex = usize;

impl Workflow {
    /// The index of the step called `id`, if any.
    pub fn step_index(&self, id: &str) -> Option<StepIndex> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// Whether step `descendant` runs after `ancestor` (transitively), or is it.
    pub fn is_at_or_after(&self, descendant: StepIndex, ancestor: StepIndex) -> bool {
        let mut stack = vec![descendant];
        let mut seen = vec![false; self.steps.len()];
        while let Some(i) = stack.pop() {
            if i == ancestor {
                return true;
            }
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&self.steps[i].depends_on);
            }
        }
        false
    }

    /// Steps that no other step depends on; their outputs form the mission's output.
    pub fn sinks(&self) -> Vec<StepIndex> {
        let mut has_dependent = vec![false; self.steps.len()];
        for step in &self.steps {
            for &dep in &step.depends_on {
                has_dependent[dep] = true;
            }
        }
        (0..self.steps.len())
            .filter(|&i| !has_dependent[i])
            .collect()
    }

    /// The one-step workflow an item mission of the task fan-out `step` runs: the
    /// step's agent and action, retry policy and timeout, with the already resolved item
    /// input as its mission input `item`. `None` if `step` is not a task fan-out.
    pub fn item_workflow(&self, step: StepIndex) -> Option<Workflow> {
        let def = self.steps.get(step)?;
        let StepKind::FanOut(FanOut {
            body: ItemBody::Task { agent, action, .. },
            ..
        }) = &def.kind
        else {
            return None;
        };
        let item = InputSpec {
            kind: InputType::Object,
            required: false,
            default: None,
            description: Some("the item's resolved input".to_owned()),
        };
        Some(Workflow {
            name: self.name.clone(),
            version: self.version,
            description: None,
            inputs: BTreeMap::from([(ITEM_INPUT.to_owned(), item)]),
            steps: vec![Step {
                id: def.id.clone(),
                kind: StepKind::Task {
                    agent: agent.clone(),
                    action: action.clone(),
                    input: Template::Expr(Expr::Input {
                        name: ITEM_INPUT.to_owned(),
                        path: Vec::new(),
                    }),
                },
                depends_on: Vec::new(),
                retry: def.retry.clone(),
                timeout: def.timeout,
                delay: None,
                window: None,
                when: None,
            }],
            on_signal: BTreeMap::new(),
            correlation_keys: Vec::new(),
        })
    }

    /// Every child workflow a `workflow:` step names, with its pinned version.
    pub fn child_workflows(&self) -> Vec<(StepIndex, &str, Option<u32>)> {
        self.steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.fan_out()?.body {
                ItemBody::Workflow {
                    ref name, version, ..
                } => Some((i, name.as_str(), version)),
                ItemBody::Task { .. } => None,
            })
            .collect()
    }

    /// Every agent named by a step, sorted and deduplicated.
    pub fn agents(&self) -> Vec<&str> {
        let mut agents: Vec<&str> = self.steps.iter().filter_map(Step::agent).collect();
        agents.sort_unstable();
        agents.dedup();
        agents
    }
}

/// The declared type of a mission input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

/// One typed mission input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub kind: InputType,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    /// What the step does once it starts.
    pub kind: StepKind,
    /// Indices of the steps this one waits for; sorted, no duplicates.
    pub depends_on: Vec<StepIndex>,
    pub retry: RetryPolicy,
    /// How long one attempt may run before it counts as a retryable failure.
    pub timeout: Option<Duration>,
    /// A durable wait between the dependencies being done and the step starting.
    pub delay: Option<Duration>,
    /// Local days and hours in which the step may be dispatched.
    pub window: Option<StepWindow>,
    /// Evaluated when the dependencies are done: false skips the step.
    pub when: Option<crate::condition::Condition>,
}

/// A step's send window: compiled once when its time zone is fixed, else at dispatch
/// from the resolved zone template.
#[derive(Debug, Clone)]
pub enum StepWindow {
    Fixed(crate::window::Window),
    ZoneFrom {
        raw: crate::window::RawWindow,
        timezone: Template,
    },
}

impl PartialEq for StepWindow {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StepWindow::ZoneFrom { raw: a, .. }, StepWindow::ZoneFrom { raw: b, .. }) => a == b,
            (StepWindow::Fixed(a), StepWindow::Fixed(b)) => format!("{a:?}") == format!("{b:?}"),
            _ => false,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// A task for an agent's queue.
    Task {
        /// The agent whose queue runs this step.
        agent: String,
        action: String,
        /// The input, with `${…}` expressions still to be resolved at dispatch.
        input: Template,
    },
    /// Waits until the moment the template resolves to (RFC 3339).
    WaitUntil { at: Template },
    /// Waits for a signal, at most `timeout`.
    WaitFor {
        signal: String,
        timeout: Option<Duration>,
    },
    /// Runs items as child missions, at most `max_concurrency` at once, and joins them.
    /// A `workflow:` step without `for_each` is a fan-out of one whose output is the
    /// child's (`items: None`).
    FanOut(FanOut),
}

/// A step that runs child missions.
#[derive(Debug, Clone, PartialEq)]
pub struct FanOut {
    /// The array to fan out over; `None` for a single child mission.
    pub items: Option<Expr>,
    pub max_concurrency: u32,
    pub policy: FailurePolicy,
    pub body: ItemBody,
}

/// Default of `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 10;
/// Upper bound of `max_concurrency`.
pub const MAX_CONCURRENCY: u32 = 10_000;

/// What a failed item does to its fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The step fails at the first failed item; the running ones are cancelled.
    FailFast,
    /// Every item runs; the step succeeds and lists the failures.
    Continue,
}

/// What one item of a fan-out runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemBody {
    /// One task of an agent, run as a one-step child mission
    /// ([`Workflow::item_workflow`]), so it has its own retries and timeout.
    Task {
        agent: String,
        action: String,
        input: Template,
    },
    /// A mission of another workflow; `input` is its mission input.
    Workflow {
        name: String,
        version: Option<u32>,
        input: Template,
    },
}

impl ItemBody {
    /// The template of one item's input.
    pub fn input(&self) -> &Template {
        match self {
            ItemBody::Task { input, .. } | ItemBody::Workflow { input, .. } => input,
        }
    }
}

/// The mission input name under which an item mission of a task fan-out receives its
/// resolved input.
pub const ITEM_INPUT: &str = "item";

impl Step {
    /// The agent of a task step, or of the items of a task fan-out.
    pub fn agent(&self) -> Option<&str> {
        match &self.kind {
            StepKind::Task { agent, .. } => Some(agent),
            StepKind::FanOut(FanOut {
                body: ItemBody::Task { agent, .. },
                ..
            }) => Some(agent),
            _ => None,
        }
    }

    /// The fan-out of a `for_each` or `workflow` step.
    pub fn fan_out(&self) -> Option<&FanOut> {
        match &self.kind {
            StepKind::FanOut(f) => Some(f),
            _ => None,
        }
    }
}

/// What a signal does to a whole mission (`on_signal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalAction {
    /// Stop every unfinished step; the mission ends `cancelled`.
    Cancel,
    /// The mission ends `failed`.
    Fail,
    /// Skip every unfinished step that is neither this one nor one after it.
    SkipTo(StepIndex),
}

/// When and how often a failed step is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 means no retry.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_delay: Duration,
    /// Factor applied to the delay after each further failure (>= 1.0).
    pub multiplier: f64,
    /// Upper bound of any single delay.
    pub max_delay: Duration,
    /// Fraction in `[0, 1]` of the delay that is randomised (full jitter at 1.0).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// Three attempts, 1 s then 2 s, capped at 5 minutes, 20 % jitter.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off before attempt `failed_attempt + 1`.
    ///
    /// `unit` is a number in `[0, 1)` that picks the jitter; the state machine derives
    /// it from the mission, step and attempt so replays compute the same delay.
    /// With `unit = 0.5` and any jitter the result is within `jitter/2` of the nominal.
    pub fn delay_after(&self, failed_attempt: u32, unit: f64) -> Duration {
        let exponent = failed_attempt.saturating_sub(1).min(64) as i32;
        let nominal = self.initial_delay.as_secs_f64() * self.multiplier.powi(exponent);
        let capped = nominal.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        // Spread the delay over [capped * (1 - jitter), capped].
        let secs = capped * (1.0 - jitter * unit.clamp(0.0, 1.0));
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(100),
            multiplier: 2.0,
            max_delay: Duration::from_millis(350),
            jitter: 0.0,
        }
    }

    #[test]
    fn delay_grows_by_multiplier_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay_after(1, 0.3), Duration::from_millis(100));
        assert_eq!(p.delay_after(2, 0.3), Duration::from_millis(200));
        assert_eq!(p.delay_after(3, 0.3), Duration::from_millis(350));
        assert_eq!(p.delay_after(40, 0.3), Duration::from_millis(350));
    }

    #[test]
    fn jitter_only_shortens_the_delay_within_its_fraction() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..policy()
        };
        assert_eq!(p.delay_after(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.delay_after(1, 1.0), Duration::from_millis(50));
        let mid = p.delay_after(1, 0.5);
        assert!(mid > Duration::from_millis(70) && mid < Duration::from_millis(80));
    }
}
