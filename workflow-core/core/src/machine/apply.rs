//! The transition function.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{Map, Value, json};

use super::{
    Command, Event, MissionState, MissionStatus, SignalRecord, StepFailure, StepStatus, Task,
    TimerKind,
};
use crate::template::Scope;
use crate::window::Window;
use crate::workflow::{SignalAction, StepIndex, StepKind, StepWindow, Workflow};

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
        Event::TimerFired(kind) => tx.timer_fired(kind),
        Event::Cancel { reason } => tx.cancel(reason),
        Event::Signal { id, name, payload } => tx.signal(id, name, payload),
        Event::Retry { from } => tx.retry(from.as_deref()),
    }
    let mut out = tx.out;
    out.changed_steps.sort_unstable();
    out.changed_steps.dedup();
    out.changed_signals.sort_unstable();
    out.changed_signals.dedup();
    out
}

struct Transition<'a> {
    state: &'a mut MissionState,
    workflow: &'a Workflow,
    now: DateTime<Utc>,
    out: Applied,
}

impl Transition<'_> {
    fn ignore(&mut self, reason: &'static str) {
        self.out = Applied::ignored(reason);
    }

    /// The running step `id` at `attempt`, or why the event about it is stale.
    fn current_step(&self, id: &str, attempt: u32) -> Result<StepIndex, &'static str> {
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
    fn succeed(&mut self, index: StepIndex, output: Value) {
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Succeeded;
        step.output = Some(output);
        step.error = None;
        step.finished_at = Some(self.now);
        self.out.changed_steps.push(index);
        self.advance();
    }

    /// Finishes the mission when every step is done, else starts what became ready.
    fn advance(&mut self) {
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
    fn waiting_step(
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

    fn signal(&mut self, id: String, name: String, payload: Value) {
        if self.state.signals.iter().any(|s| s.id == id) {
            return self.ignore("duplicate signal");
        }
        if self.state.status != MissionStatus::Running {
            return self.ignore("mission is not running");
        }
        self.state.signals.push(SignalRecord {
            id,
            name: name.clone(),
            payload: payload.clone(),
            received_at: self.now,
            consumed_by: None,
        });
        let signal = self.state.signals.len() - 1;
        self.out.changed_signals.push(signal);

        if let Some(action) = self.workflow.on_signal.get(&name).cloned() {
            self.state.signals[signal].consumed_by = Some("on_signal".to_owned());
            match action {
                SignalAction::Cancel => {
                    self.cancel_unfinished_steps();
                    self.finish(
                        MissionStatus::Cancelled,
                        None,
                        Some(format!("cancelled by signal {name:?}")),
                    );
                }
                SignalAction::Fail => {
                    self.cancel_unfinished_steps();
                    self.finish(
                        MissionStatus::Failed,
                        None,
                        Some(format!("failed by signal {name:?}")),
                    );
                }
                SignalAction::SkipTo(target) => {
                    for j in 0..self.workflow.steps.len() {
                        let status = self.state.steps[j].status;
                        if !status.is_terminal() && !self.workflow.is_at_or_after(j, target) {
                            let step = &mut self.state.steps[j];
                            step.status = StepStatus::Skipped;
                            step.finished_at = Some(self.now);
                            self.out.changed_steps.push(j);
                        }
                    }
                    self.advance();
                }
            }
            return;
        }
        // A step waiting for it takes it; otherwise it waits for one (lookback).
        let waiting = (0..self.workflow.steps.len()).find(|&j| {
            self.state.steps[j].status == StepStatus::Waiting
                && matches!(&self.workflow.steps[j].kind, StepKind::WaitFor { signal, .. } if *signal == name)
        });
        if let Some(j) = waiting {
            self.take_signal(j, signal);
        }
    }

    /// Step `index` (a `wait_for`) uses signal `signal` and succeeds with it.
    fn take_signal(&mut self, index: StepIndex, signal: usize) {
        let record = &mut self.state.signals[signal];
        record.consumed_by = Some(self.workflow.steps[index].id.clone());
        let output = json!({
            "signal": record.name,
            "timed_out": false,
            "payload": record.payload,
        });
        self.out.changed_signals.push(signal);
        self.succeed(index, output);
    }

    fn retry(&mut self, from: Option<&str>) {
        if !matches!(
            self.state.status,
            MissionStatus::Failed | MissionStatus::Cancelled
        ) {
            return self.ignore("only a failed or cancelled mission can be retried");
        }
        let from = match from {
            Some(id) => match self.workflow.step_index(id) {
                Some(index) => Some(index),
                None => return self.ignore("unknown step"),
            },
            None => None,
        };
        for j in 0..self.workflow.steps.len() {
            let rerun = !self.state.steps[j].status.is_done()
                || from.is_some_and(|f| self.workflow.is_at_or_after(j, f));
            if rerun {
                let step = &mut self.state.steps[j];
                step.status = StepStatus::Pending;
                step.output = None;
                step.error = None;
                step.finished_at = None;
                step.retry_base = step.attempt;
                self.out.changed_steps.push(j);
            }
        }
        self.state.status = MissionStatus::Running;
        self.state.output = None;
        self.state.error = None;
        self.out.mission_changed = true;
        self.advance();
    }

    fn cancel(&mut self, reason: String) {
        if self.state.status.is_terminal() {
            return self.ignore("mission already finished");
        }
        self.cancel_unfinished_steps();
        self.finish(MissionStatus::Cancelled, None, Some(reason));
    }

    /// Records a failed attempt: arms a retry when allowed, else fails the mission.
    fn fail_attempt(&mut self, index: StepIndex, error: StepFailure) {
        let policy = &self.workflow.steps[index].retry;
        let step = &mut self.state.steps[index];
        let attempt = step.attempt;
        let tries = attempt - step.retry_base.min(attempt);
        step.error = Some(error.message.clone());
        step.finished_at = Some(self.now);
        self.out.changed_steps.push(index);

        if error.retryable && tries < policy.max_attempts {
            step.status = StepStatus::WaitingRetry;
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

    fn cancel_unfinished_steps(&mut self) {
        for (index, step) in self.state.steps.iter_mut().enumerate() {
            if !step.status.is_terminal() {
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

    /// Does what the step is for: dispatch a task, or begin a wait.
    fn begin(&mut self, index: StepIndex) {
        match &self.workflow.steps[index].kind {
            StepKind::Task { .. } => self.dispatch_in_window(index),
            StepKind::WaitUntil { at } => {
                let resolved = at.resolve(&StateScope(self.state, self.workflow));
                let due = match &resolved {
                    Ok(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                        .map(|d| d.with_timezone(&Utc))
                        .map_err(|e| format!("wait_until: {s:?} is not an RFC 3339 time: {e}")),
                    Ok(other) => Err(format!("wait_until: {other} is not an RFC 3339 time")),
                    Err(e) => Err(format!("wait_until: {e}")),
                };
                let step = &mut self.state.steps[index];
                step.attempt += 1;
                step.dispatched_at = Some(self.now);
                match due {
                    Err(message) => self.fail_attempt(
                        index,
                        StepFailure {
                            message,
                            retryable: false,
                        },
                    ),
                    Ok(due) if due <= self.now => {
                        self.succeed(index, json!({"waited_until": due}));
                    }
                    Ok(due) => {
                        step.status = StepStatus::Waiting;
                        let attempt = step.attempt;
                        self.out.changed_steps.push(index);
                        self.out.commands.push(Command::ArmTimer {
                            kind: TimerKind::WaitUntil {
                                step: self.workflow.steps[index].id.clone(),
                                attempt,
                            },
                            due,
                        });
                    }
                }
            }
            StepKind::WaitFor { signal, timeout } => {
                let step = &mut self.state.steps[index];
                step.attempt += 1;
                step.status = StepStatus::Waiting;
                step.dispatched_at = Some(self.now);
                let attempt = step.attempt;
                self.out.changed_steps.push(index);
                // A signal that came before the wait counts (lookback).
                if let Some(buffered) = self
                    .state
                    .signals
                    .iter()
                    .position(|s| s.consumed_by.is_none() && s.name == *signal)
                {
                    return self.take_signal(index, buffered);
                }
                if let Some(timeout) = timeout {
                    self.out.commands.push(Command::ArmTimer {
                        kind: TimerKind::WaitTimeout {
                            step: self.workflow.steps[index].id.clone(),
                            attempt,
                        },
                        due: self.now + to_chrono(*timeout),
                    });
                }
            }
        }
    }

    /// Dispatches now when the step's send window is open (or it has none); otherwise
    /// waits for the next opening on a timer, so steps shift rather than bunch up.
    fn dispatch_in_window(&mut self, index: StepIndex) {
        let window = match &self.workflow.steps[index].window {
            None => return self.dispatch(index),
            Some(StepWindow::Fixed(window)) => window.clone(),
            Some(StepWindow::ZoneFrom { raw, timezone }) => {
                let zone = timezone.resolve(&StateScope(self.state, self.workflow));
                let compiled = match zone {
                    Ok(Value::String(tz)) => Window::compile(raw, &tz).map_err(|e| e.to_string()),
                    Ok(other) => Err(format!("window.timezone: {other} is not a time zone name")),
                    Err(e) => Err(format!("window.timezone: {e}")),
                };
                match compiled {
                    Ok(window) => window,
                    Err(message) => {
                        self.state.steps[index].attempt += 1;
                        return self.fail_attempt(
                            index,
                            StepFailure {
                                message,
                                retryable: false,
                            },
                        );
                    }
                }
            }
        };
        let open = window.next_open(self.now);
        if open <= self.now {
            return self.dispatch(index);
        }
        let step = &mut self.state.steps[index];
        step.status = StepStatus::Delayed;
        self.out.changed_steps.push(index);
        self.out.commands.push(Command::ArmTimer {
            kind: TimerKind::Delay {
                step: self.workflow.steps[index].id.clone(),
                attempt: step.attempt,
            },
            due: open,
        });
    }

    /// Starts the next attempt of step `index`.
    fn dispatch(&mut self, index: StepIndex) {
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

    fn finish(&mut self, status: MissionStatus, output: Option<Value>, error: Option<String>) {
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
struct StateScope<'a>(&'a MissionState, &'a Workflow);

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

fn to_chrono(d: std::time::Duration) -> ChronoDuration {
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
