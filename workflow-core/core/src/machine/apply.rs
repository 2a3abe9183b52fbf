//! The transition function.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Map, Value, json};

use super::{
    Command, Event, MissionState, MissionStatus, StepFailure, StepStatus, Task, TimerKind,
};
use crate::template::Scope;
use crate::workflow::{StepIndex, StepKind, Workflow};

/// The result of applying one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Effects to carry out after the new state is committed, in order.
    pub commands: Vec<Command>,
    /// Steps whose state changed (so the store writes only those rows).
    pub changed_steps: Vec<StepIndex>,
    /// Whether the mission row itself (status, output, error) changed.
    pub mission_changed: bool,
    /// Signals (indices into [`MissionState::signals`]) received or used.
    pub changed_signals: Vec<usize>,
    /// Why the event was ignored, when it was (duplicate, stale, unknown step…).
    pub ignored: Option<&'static str>,
}

impl Applied {
    fn ignored(reason: &'static str) -> Self {
        Self {
            ignored: Some(reason),
            ..Self::default()
        }
    }

    /// True when the event changed nothing.
    pub fn is_noop(&self) -> bool {
        self.commands.is_empty()
            && self.changed_steps.is_empty()
            && !self.mission_changed
            && self.changed_signals.is_empty()
    }
}

/// Applies `event` to `state` at time `now` and returns the effects to perform.
///
/// `state` must have been created for `workflow` (one step state per step). A stale or
/// duplicate event leaves `state` untouched and returns an [`Applied`] with `ignored` set.
pub fn apply(
    state: &mut MissionState,
    workflow: &Workflow,
    event: Event,
    now: DateTime<Utc>,
) -> Applied {
    let mut tx = Transition {
        state,
        workflow,
        now,
        out: Applied::default(),
    };
    match event {
        Event::Start => tx.start(),
        Event::StepSucceeded {
            step,
            attempt,
            output,
        } => tx.step_succeeded(&step, attempt, output),
        Event::StepFailed {
            step,
            attempt,
            error,
        } => tx.step_failed(&step, attempt, error),
        Event::StepDeferred {
            step,
            attempt,
            until,
            reason,
        } => tx.step_deferred(&step, attempt, until, &reason),
        Event::TimerFired(kind) => tx.timer_fired(kind),
        Event::Cancel { reason } => tx.cancel(reason),
        Event::Signal { id, name, payload } => tx.signal(id, name, payload),
        Event::Retry { from } => tx.retry(from.as_deref()),
        Event::ChildFinished {
            step,
            attempt,
            tally,
        } => tx.child_finished(&step, attempt, tally),
    }
    let mut out = tx.out;
    out.changed_steps.sort_unstable();
    out.changed_steps.dedup();
    out.changed_signals.sort_unstable();
    out.changed_signals.dedup();
    out
}

pub(super) struct Transition<'a> {
    pub(super) state: &'a mut MissionState,
    pub(super) workflow: &'a Workflow,
    pub(super) now: DateTime<Utc>,
    pub(super) out: Applied,
}

impl Transition<'_> {
    pub(super) fn ignore(&mut self, reason: &'static str) {
        self.out = Applied::ignored(reason);
    }

    /// The running step `id` at `attempt`, or why the event about it is stale.
    pub(super) fn current_step(&self, id: &str, attempt: u32) -> Result<StepIndex, &'static str> {
        if self.state.status != MissionStatus::Running {
            return Err("mission is not running");
        }
        let index = self.workflow.step_index(id).ok_or("unknown step")?;
        let step = &self.state.steps[index];
        if step.attempt != attempt {
            return Err("stale attempt");
        }
        if step.status != StepStatus::Running {
            return Err("step is not running");
        }
        Ok(index)
    }

    fn start(&mut self) {
        if self.state.status != MissionStatus::Pending {
            return self.ignore("mission already started");
        }
        self.state.status = MissionStatus::Running;
        self.out.mission_changed = true;
        self.dispatch_ready();
    }

    fn step_succeeded(&mut self, id: &str, attempt: u32, output: Value) {
        let index = match self.current_step(id, attempt) {
            Ok(index) => index,
            Err(reason) => return self.ignore(reason),
        };
        self.succeed(index, output);
    }

    /// Records step `index` as succeeded, then moves the mission on.
    pub(super) fn succeed(&mut self, index: StepIndex, output: Value) {
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Succeeded;
        step.output = Some(output);
        step.error = None;
        step.finished_at = Some(self.now);
        self.out.changed_steps.push(index);
        self.advance();
    }

    /// Finishes the mission when every step is done, else starts what became ready.
    pub(super) fn advance(&mut self) {
        if self.state.status != MissionStatus::Running {
            return;
        }
        if self.state.steps.iter().all(|s| s.status.is_done()) {
            self.finish_succeeded();
        } else {
            self.dispatch_ready();
        }
    }

    fn step_failed(&mut self, id: &str, attempt: u32, error: StepFailure) {
        let index = match self.current_step(id, attempt) {
            Ok(index) => index,
            Err(reason) => return self.ignore(reason),
        };
        self.fail_attempt(index, error);
    }

    fn timer_fired(&mut self, kind: TimerKind) {
        match kind {
            TimerKind::Retry { step, attempt } => {
                if self.state.status != MissionStatus::Running {
                    return self.ignore("mission is not running");
                }
                let Some(index) = self.workflow.step_index(&step) else {
                    return self.ignore("unknown step");
                };
                let current = &self.state.steps[index];
                if current.status != StepStatus::WaitingRetry || current.attempt + 1 != attempt {
                    return self.ignore("stale retry timer");
                }
                self.dispatch_in_window(index);
            }
            TimerKind::Delay { step, attempt } => {
                match self.waiting_step(&step, attempt, StepStatus::Delayed) {
                    Ok(index) => self.begin(index),
                    Err(reason) => self.ignore(reason),
                }
            }
            TimerKind::WaitUntil { step, attempt } => {
                match self.waiting_step(&step, attempt, StepStatus::Waiting) {
                    Ok(index) => self.succeed(index, json!({"waited_until": self.now})),
                    Err(reason) => self.ignore(reason),
                }
            }
            TimerKind::WaitTimeout { step, attempt } => {
                match self.waiting_step(&step, attempt, StepStatus::Waiting) {
                    Ok(index) => {
                        let signal = match &self.workflow.steps[index].kind {
                            StepKind::WaitFor { signal, .. } => signal.clone(),
                            _ => String::new(),
                        };
                        let output = json!({"signal": signal, "timed_out": true, "payload": null});
                        self.succeed(index, output);
                    }
                    Err(reason) => self.ignore(reason),
                }
            }
            TimerKind::Timeout { step, attempt } => {
                let index = match self.current_step(&step, attempt) {
                    Ok(index) => index,
                    Err(reason) => return self.ignore(reason),
                };
                let timeout = self.workflow.steps[index].timeout.unwrap_or_default();
                self.fail_attempt(
                    index,
                    StepFailure {
                        message: format!("attempt {attempt} timed out after {timeout:?}"),
                        retryable: true,
                    },
                );
            }
        }
    }

    /// The step `id` waiting in `status` at `attempt`, or why a timer about it is stale.
    pub(super) fn waiting_step(
        &self,
        id: &str,
        attempt: u32,
        status: StepStatus,
    ) -> Result<StepIndex, &'static str> {
        if self.state.status != MissionStatus::Running {
            return Err("mission is not running");
        }
        let index = self.workflow.step_index(id).ok_or("unknown step")?;
        let step = &self.state.steps[index];
        if step.status != status || step.attempt != attempt {
            return Err("stale timer");
        }
        Ok(index)
    }

    fn cancel(&mut self, reason: String) {
        if self.state.status.is_terminal() {
            return self.ignore("mission already finished");
        }
        self.cancel_unfinished_steps();
        self.finish(MissionStatus::Cancelled, None, Some(reason));
    }

    /// The running attempt asked to run again at `until`: the step waits for a retry
    /// timer at `until` (or now, if that has passed), and the next attempt counts as the
    /// first try of a fresh retry budget. A deferral never fails the mission.
    fn step_deferred(&mut self, id: &str, attempt: u32, until: DateTime<Utc>, reason: &str) {
        let index = match self.current_step(id, attempt) {
            Ok(index) => index,
            Err(reason) => return self.ignore(reason),
        };
        let step = &mut self.state.steps[index];
        step.status = StepStatus::WaitingRetry;
        step.error = Some(format!("deferred until {}: {reason}", until.to_rfc3339()));
        step.finished_at = Some(self.now);
        step.retry_base = attempt;
        self.out.changed_steps.push(index);
        self.out.commands.push(Command::ArmTimer {
            kind: TimerKind::Retry {
                step: id.to_owned(),
                attempt: attempt + 1,
            },
            due: until.max(self.now),
        });
    }

    /// Records a failed attempt: arms a retry when allowed, else fails the mission.
    pub(super) fn fail_attempt(&mut self, index: StepIndex, error: StepFailure) {
        let policy = &self.workflow.steps[index].retry;
        let step = &mut self.state.steps[index];
        let attempt = step.attempt;
        let tries = attempt - step.retry_base.min(attempt);
        step.error = Some(error.message.clone());
        step.finished_at = Some(self.now);
        self.out.changed_steps.push(index);

        if error.retryable && tries < policy.max_attempts {
            step.status = StepStatus::WaitingRetry;
            // (a fan-out's failures are permanent: it never waits for a retry)
            let unit = jitter_unit(&self.state.id, &self.workflow.steps[index].id, attempt);
            let delay = policy.delay_after(attempt, unit);
            let due = self.now + to_chrono(delay);
            self.out.commands.push(Command::ArmTimer {
                kind: TimerKind::Retry {
                    step: self.workflow.steps[index].id.clone(),
                    attempt: attempt + 1,
                },
                due,
            });
            return;
        }

        self.release_children(index);
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Failed;
        let id = &self.workflow.steps[index].id;
        let message = if error.retryable {
            format!(
                "step \"{id}\" failed after {tries} attempt{}: {}",
                if tries == 1 { "" } else { "s" },
                error.message
            )
        } else {
            format!(
                "step \"{id}\" failed permanently on attempt {attempt}: {}",
                error.message
            )
        };
        self.cancel_unfinished_steps();
        self.finish(MissionStatus::Failed, None, Some(message));
    }

    pub(super) fn cancel_unfinished_steps(&mut self) {
        for index in 0..self.state.steps.len() {
            if !self.state.steps[index].status.is_terminal() {
                self.release_children(index);
                let step = &mut self.state.steps[index];
                step.status = StepStatus::Cancelled;
                step.finished_at = Some(self.now);
                self.out.changed_steps.push(index);
            }
        }
    }

    /// Starts every pending step whose dependencies are all done.
    fn dispatch_ready(&mut self) {
        for index in 0..self.workflow.steps.len() {
            if self.state.status != MissionStatus::Running {
                return; // starting a step ended the mission
            }
            let ready = self.state.steps[index].status == StepStatus::Pending
                && self.workflow.steps[index]
                    .depends_on
                    .iter()
                    .all(|&d| self.state.steps[d].status.is_done());
            if ready {
                self.start_step(index);
            }
        }
    }

    /// A ready step: skipped when its `when` is false, else it waits out its `delay`
    /// first, if it has one.
    fn start_step(&mut self, index: StepIndex) {
        if let Some(condition) = &self.workflow.steps[index].when {
            let outputs: BTreeMap<String, Value> = self
                .workflow
                .steps
                .iter()
                .zip(&self.state.steps)
                .filter(|(_, s)| s.status == StepStatus::Succeeded)
                .map(|(d, s)| (d.id.clone(), s.output.clone().unwrap_or(Value::Null)))
                .collect();
            match condition.evaluate(&self.state.input, &outputs) {
                Ok(true) => {}
                Ok(false) => {
                    let step = &mut self.state.steps[index];
                    step.status = StepStatus::Skipped;
                    step.finished_at = Some(self.now);
                    self.out.changed_steps.push(index);
                    return self.advance();
                }
                Err(err) => {
                    let step = &mut self.state.steps[index];
                    step.attempt += 1;
                    return self.fail_attempt(
                        index,
                        StepFailure {
                            message: format!("when: {err}"),
                            retryable: false,
                        },
                    );
                }
            }
        }
        let Some(delay) = self.workflow.steps[index].delay else {
            return self.begin(index);
        };
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Delayed;
        self.out.changed_steps.push(index);
        self.out.commands.push(Command::ArmTimer {
            kind: TimerKind::Delay {
                step: self.workflow.steps[index].id.clone(),
                attempt: step.attempt,
            },
            due: self.now + to_chrono(delay),
        });
    }

    /// Starts the next attempt of step `index`.
    pub(super) fn dispatch(&mut self, index: StepIndex) {
        let def = &self.workflow.steps[index];
        let StepKind::Task {
            agent,
            action,
            input: template,
        } = &def.kind
        else {
            return self.begin(index);
        };
        let input = match template.resolve(&StateScope(self.state, self.workflow)) {
            Ok(input) => input,
            Err(err) => {
                // The data a step needs is not there: retrying cannot help.
                let step = &mut self.state.steps[index];
                step.attempt += 1;
                step.dispatched_at = Some(self.now);
                self.fail_attempt(
                    index,
                    StepFailure {
                        message: format!("input: {err}"),
                        retryable: false,
                    },
                );
                return;
            }
        };
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Running;
        step.attempt += 1;
        step.input = Some(input.clone());
        step.error = None;
        step.dispatched_at = Some(self.now);
        step.finished_at = None;
        let attempt = step.attempt;
        self.out.changed_steps.push(index);
        self.out.commands.push(Command::Dispatch(Task {
            step: index,
            step_id: def.id.clone(),
            attempt,
            agent: agent.clone(),
            action: action.clone(),
            input,
        }));
        if let Some(timeout) = def.timeout {
            self.out.commands.push(Command::ArmTimer {
                kind: TimerKind::Timeout {
                    step: def.id.clone(),
                    attempt,
                },
                due: self.now + to_chrono(timeout),
            });
        }
    }

    fn finish_succeeded(&mut self) {
        let mut output = Map::new();
        for index in self.workflow.sinks() {
            let value = self.state.steps[index]
                .output
                .clone()
                .unwrap_or(Value::Null);
            output.insert(self.workflow.steps[index].id.clone(), value);
        }
        self.finish(MissionStatus::Succeeded, Some(Value::Object(output)), None);
    }

    pub(super) fn finish(
        &mut self,
        status: MissionStatus,
        output: Option<Value>,
        error: Option<String>,
    ) {
        self.state.status = status;
        self.state.output = output.clone();
        self.state.error = error.clone();
        self.out.mission_changed = true;
        self.out.commands.push(Command::Finish {
            status,
            output,
            error,
        });
    }
}

/// Template scope over a mission: its input and its succeeded steps' outputs.
pub(super) struct StateScope<'a>(pub(super) &'a MissionState, pub(super) &'a Workflow);

impl Scope for StateScope<'_> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.0.input.get(name)
    }

    fn step_output(&self, step: &str) -> Option<&Value> {
        let index = self.1.step_index(step)?;
        let state = &self.0.steps[index];
        match state.status {
            StepStatus::Succeeded => state.output.as_ref(),
            _ => None,
        }
    }
}

pub(super) fn to_chrono(d: std::time::Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

/// A number in `[0, 1)` derived from the attempt's identity (FNV-1a), so the jitter of a
/// retry is random across missions yet identical when an event is replayed.
fn jitter_unit(mission: &str, step: &str, attempt: u32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = mission
        .bytes()
        .chain([0])
        .chain(step.bytes())
        .chain(attempt.to_le_bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash >> 11) as f64 / (1u64 << 53) as f64
}
