//! The transitions of fan-out steps (`for_each`, child `workflow`): start items as child
//! missions up to `max_concurrency`, count them as they finish, join them.
//!
//! The parent keeps counts only ([`FanState`]); the children are missions of their own.
//! A finishing child sends a bare [`Event::ChildFinished`](super::Event::ChildFinished)
//! and the engine adds a [`ChildTally`] counted from the store, so the counts here are
//! always the store's truth: a duplicate or reordered notification cannot double-count.

use serde_json::{Value, json};

use super::apply::{StateScope, Transition};
use super::{ChildSpec, ChildTally, Command, FanState, StepFailure, StepStatus};
use crate::template::{Scope, lookup};
use crate::workflow::{FailurePolicy, FanOut, StepIndex};

impl Transition<'_> {
    /// Starts fan-out step `index`: counts its items, starts the first ones.
    pub(super) fn begin_fan_out(&mut self, index: StepIndex) {
        let Some(fan) = self.workflow.steps[index].fan_out() else {
            return;
        };
        let total = match &fan.items {
            None => Ok(1),
            Some(expr) => match lookup(expr, &StateScope(self.state, self.workflow)) {
                Ok(Value::Array(items)) => u32::try_from(items.len())
                    .map_err(|_| format!("for_each: {expr} has more than {} items", u32::MAX)),
                Ok(other) => Err(format!(
                    "for_each: {expr} is {}, not an array",
                    json_kind(other)
                )),
                Err(e) => Err(format!("for_each: {e}")),
            },
        };
        let step = &mut self.state.steps[index];
        step.attempt += 1;
        step.dispatched_at = Some(self.now);
        step.finished_at = None;
        step.error = None;
        let total = match total {
            Ok(total) => total,
            Err(message) => {
                return self.fail_attempt(
                    index,
                    StepFailure {
                        message,
                        retryable: false,
                    },
                );
            }
        };
        step.status = StepStatus::Running;
        step.fanout = Some(FanState {
            total,
            ..FanState::default()
        });
        self.out.changed_steps.push(index);
        if total == 0 {
            return self.join(index, Vec::new(), Vec::new());
        }
        self.start_items(index);
    }

    /// Starts the next items while fewer than `max_concurrency` run.
    fn start_items(&mut self, index: StepIndex) {
        let Some(fan) = self.workflow.steps[index].fan_out() else {
            return;
        };
        let Some(counts) = self.state.steps[index].fanout else {
            return;
        };
        let room = fan.max_concurrency.saturating_sub(counts.running());
        let end = counts.total.min(counts.started.saturating_add(room));
        if end <= counts.started {
            return;
        }
        let children = match self.item_inputs(fan, counts.started..end) {
            Ok(children) => children,
            Err(message) => {
                return self.fail_attempt(
                    index,
                    StepFailure {
                        message,
                        retryable: false,
                    },
                );
            }
        };
        let step = &mut self.state.steps[index];
        if let Some(counts) = step.fanout.as_mut() {
            counts.started = end;
        }
        let attempt = step.attempt;
        self.out.changed_steps.push(index);
        self.out.commands.push(Command::SpawnChildren {
            step: index,
            attempt,
            children,
        });
    }

    /// The resolved inputs of items `range`.
    fn item_inputs(
        &self,
        fan: &FanOut,
        range: std::ops::Range<u32>,
    ) -> Result<Vec<ChildSpec>, String> {
        let base = StateScope(self.state, self.workflow);
        let items = match &fan.items {
            Some(expr) => match lookup(expr, &base) {
                Ok(Value::Array(items)) => Some(items),
                _ => return Err(format!("for_each: {expr} is no longer an array")),
            },
            None => None,
        };
        range
            .map(|i| {
                let scope = ItemScope {
                    base: &base,
                    item: items.and_then(|items| items.get(i as usize)),
                    index: json!(i),
                };
                match fan.body.input().resolve(&scope) {
                    Ok(input) => Ok(ChildSpec { index: i, input }),
                    Err(e) => Err(format!("item {i} input: {e}")),
                }
            })
            .collect()
    }

    pub(super) fn child_finished(&mut self, id: &str, attempt: u32, tally: Option<ChildTally>) {
        let index = match self.current_step(id, attempt) {
            Ok(index) => index,
            Err(reason) => return self.ignore(reason),
        };
        let Some(fan) = self.workflow.steps[index].fan_out() else {
            return self.ignore("not a fan-out step");
        };
        let Some(tally) = tally else {
            return self.ignore("child notification without a tally");
        };
        let Some(counts) = self.state.steps[index].fanout.as_mut() else {
            return self.ignore("fan-out has not started");
        };
        // Counts only grow; an older tally that arrives late changes nothing.
        let succeeded = counts.succeeded.max(tally.succeeded).min(counts.started);
        let failed = counts
            .failed
            .max(tally.failed)
            .min(counts.started - succeeded);
        if (succeeded, failed) == (counts.succeeded, counts.failed) && !counts.is_complete() {
            return self.ignore("no child finished since the last count");
        }
        counts.succeeded = succeeded;
        counts.failed = failed;
        let counts = *counts;
        self.out.changed_steps.push(index);

        let single = fan.items.is_none();
        if counts.failed > 0 && (single || fan.policy == FailurePolicy::FailFast) {
            let message = match tally.failures.first() {
                Some(f) if single => format!("child mission failed: {}", f.error),
                Some(f) => format!("item {} failed: {}", f.index, f.error),
                None => "an item failed".to_owned(),
            };
            return self.fail_attempt(
                index,
                StepFailure {
                    message,
                    retryable: false,
                },
            );
        }
        if counts.is_complete() {
            match tally.results {
                Some(results) => self.join(index, results, tally.failures),
                // The engine adds the results to the tally that completes the count.
                None => self.ignore("complete fan-out without results"),
            }
        } else {
            self.start_items(index);
        }
    }

    /// Every item finished: the step succeeds with their results in item order.
    fn join(&mut self, index: StepIndex, results: Vec<Value>, failures: Vec<super::ItemFailure>) {
        let counts = self.state.steps[index].fanout.unwrap_or_default();
        let single = self.workflow.steps[index]
            .fan_out()
            .is_some_and(|f| f.items.is_none());
        let output = if single {
            results.into_iter().next().unwrap_or(Value::Null)
        } else {
            json!({
                "results": results,
                "failures": failures,
                "total": counts.total,
                "succeeded": counts.succeeded,
                "failed": counts.failed,
            })
        };
        self.succeed(index, output);
    }

    /// Before fan-out step `index` stops (failed, cancelled, skipped): cancel the
    /// children it still has running.
    pub(super) fn release_children(&mut self, index: StepIndex) {
        let step = &self.state.steps[index];
        if step.status != StepStatus::Running {
            return;
        }
        if let Some(counts) = step.fanout
            && counts.running() > 0
        {
            self.out.commands.push(Command::CancelChildren {
                step: index,
                attempt: step.attempt,
            });
        }
    }
}

/// A mission's scope plus the current item of a fan-out.
struct ItemScope<'a> {
    base: &'a StateScope<'a>,
    item: Option<&'a Value>,
    index: Value,
}

impl Scope for ItemScope<'_> {
    fn input(&self, name: &str) -> Option<&Value> {
        self.base.input(name)
    }

    fn step_output(&self, step: &str) -> Option<&Value> {
        self.base.step_output(step)
    }

    fn item(&self) -> Option<&Value> {
        self.item
    }

    fn item_index(&self) -> Option<&Value> {
        Some(&self.index)
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
