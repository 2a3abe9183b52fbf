//! The transitions of multi-day missions: waits (`wait_until`, `wait_for`, send
//! windows), signals and retries. Split from [`super::apply`] by event kind.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::apply::{StateScope, Transition, to_chrono};
use super::{Command, MissionStatus, SignalRecord, StepFailure, StepStatus, TimerKind};
use crate::window::Window;
use crate::workflow::{SignalAction, StepIndex, StepKind, StepWindow};

impl Transition<'_> {
    pub(super) fn signal(&mut self, id: String, name: String, payload: Value) {
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
                            self.release_children(j);
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
    pub(super) fn take_signal(&mut self, index: StepIndex, signal: usize) {
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

    pub(super) fn retry(&mut self, from: Option<&str>) {
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
                step.fanout = None;
                self.out.changed_steps.push(j);
            }
        }
        self.state.status = MissionStatus::Running;
        self.state.output = None;
        self.state.error = None;
        self.out.mission_changed = true;
        self.advance();
    }

    /// Does what the step is for: dispatch a task, or begin a wait.
    pub(super) fn begin(&mut self, index: StepIndex) {
        match &self.workflow.steps[index].kind {
            StepKind::Task { .. } => self.dispatch_in_window(index),
            StepKind::FanOut(_) => self.begin_fan_out(index),
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
    pub(super) fn dispatch_in_window(&mut self, index: StepIndex) {
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
}
