//! Model checks of the state machine over random DAGs and random event orders.
//!
//! A tiny simulated world (workers answering tasks, timers firing) feeds the machine
//! events in a random order, re-delivers old events at random, and checks after every
//! step that the machine's promises hold.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::template::Template;
use crate::workflow::{RetryPolicy, Step, StepKind, Workflow};

/// A random DAG: edges only go from lower to higher index, so it is acyclic.
fn arb_workflow() -> impl Strategy<Value = Workflow> {
    (1usize..10).prop_flat_map(|n| {
        (
            proptest::collection::vec(proptest::collection::vec(any::<bool>(), n), n),
            proptest::collection::vec(1u32..4, n),
        )
            .prop_map(move |(edges, attempts)| Workflow {
                name: "prop".into(),
                version: 1,
                description: None,
                inputs: Default::default(),
                steps: (0..n)
                    .map(|j| Step {
                        id: format!("s{j}"),
                        kind: StepKind::Task {
                            agent: "noop".into(),
                            action: "noop".into(),
                            input: Template::Literal(json!({})),
                        },
                        depends_on: (0..j).filter(|&i| edges[j][i]).collect(),
                        retry: RetryPolicy {
                            max_attempts: attempts[j],
                            initial_delay: Duration::from_millis(10),
                            multiplier: 2.0,
                            max_delay: Duration::from_secs(1),
                            jitter: 0.5,
                        },
                        timeout: if edges[j].first() == Some(&true) {
                            Some(Duration::from_secs(1))
                        } else {
                            None
                        },
                        delay: None,
                        window: None,
                        when: None,
                    })
                    .collect(),
                on_signal: Default::default(),
                correlation_keys: Vec::new(),
            })
    })
}

/// What the simulated world does next, drawn at random.
#[derive(Debug, Clone)]
enum Action {
    /// Answer (or fire) the pending item at this position, with this outcome roll.
    Deliver { pick: usize, roll: u8 },
    /// Re-apply an event that was already applied.
    Duplicate { pick: usize },
    /// Cancel the mission.
    Cancel,
}

fn arb_actions() -> impl Strategy<Value = Vec<Action>> {
    proptest::collection::vec(
        prop_oneof![
            12 => (any::<usize>(), any::<u8>()).prop_map(|(pick, roll)| Action::Deliver { pick, roll }),
            4 => any::<usize>().prop_map(|pick| Action::Duplicate { pick }),
            1 => Just(Action::Cancel),
        ],
        0..200,
    )
}

enum Pending {
    Task(Task),
    Timer(TimerKind),
}

struct World<'a> {
    wf: &'a Workflow,
    state: MissionState,
    pending: Vec<Pending>,
    applied: Vec<Event>,
    dispatched: HashSet<(String, u32)>,
    succeeded: HashMap<String, u32>,
    finishes: u32,
}

impl<'a> World<'a> {
    fn new(wf: &'a Workflow) -> Self {
        Self {
            wf,
            state: MissionState::new("mission-1", wf, json!({})),
            pending: Vec::new(),
            applied: Vec::new(),
            dispatched: HashSet::new(),
            succeeded: HashMap::new(),
            finishes: 0,
        }
    }

    fn apply(&mut self, event: Event) -> Result<(), TestCaseError> {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let out = apply(&mut self.state, self.wf, event.clone(), now);
        if out.ignored.is_none()
            && let Event::StepSucceeded { step, .. } = &event
        {
            *self.succeeded.entry(step.clone()).or_default() += 1;
        }
        for command in out.commands {
            match command {
                Command::Dispatch(task) => {
                    let key = (task.step_id.clone(), task.attempt);
                    prop_assert!(self.dispatched.insert(key), "dispatched twice: {task:?}");
                    prop_assert_eq!(self.state.steps[task.step].attempt, task.attempt);
                    for &dep in &self.wf.steps[task.step].depends_on {
                        prop_assert_eq!(
                            self.state.steps[dep].status,
                            StepStatus::Succeeded,
                            "{} dispatched before its dependency {} succeeded",
                            task.step_id,
                            self.wf.steps[dep].id
                        );
                    }
                    self.pending.push(Pending::Task(task));
                }
                Command::ArmTimer { kind, .. } => self.pending.push(Pending::Timer(kind)),
                Command::Finish { .. } => self.finishes += 1,
                Command::SpawnChildren { .. } | Command::CancelChildren { .. } => {
                    prop_assert!(false, "these workflows have no fan-out: {command:?}")
                }
            }
        }
        prop_assert!(self.finishes <= 1, "mission finished twice");
        self.applied.push(event);
        Ok(())
    }

    fn deliver(&mut self, pick: usize, roll: u8) -> Result<(), TestCaseError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let item = self.pending.swap_remove(pick % self.pending.len());
        let event = match item {
            Pending::Timer(kind) => Event::TimerFired(kind),
            Pending::Task(task) => match roll % 10 {
                0..=5 => Event::StepSucceeded {
                    step: task.step_id.clone(),
                    attempt: task.attempt,
                    output: json!({"step": task.step_id}),
                },
                6..=8 => Event::StepFailed {
                    step: task.step_id,
                    attempt: task.attempt,
                    error: StepFailure {
                        message: "transient".into(),
                        retryable: true,
                    },
                },
                _ => Event::StepFailed {
                    step: task.step_id,
                    attempt: task.attempt,
                    error: StepFailure {
                        message: "permanent".into(),
                        retryable: false,
                    },
                },
            },
        };
        self.apply(event)
    }

    fn duplicate(&mut self, pick: usize) -> Result<(), TestCaseError> {
        if self.applied.is_empty() {
            return Ok(());
        }
        let event = self.applied[pick % self.applied.len()].clone();
        let before = self.state.clone();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let out = apply(&mut self.state, self.wf, event.clone(), now);
        // A timer kind can legitimately recur (a timeout of a later attempt has another
        // attempt number, so it is a different event); every exact re-delivery is a no-op.
        prop_assert!(
            out.is_noop(),
            "duplicate {event:?} changed something: {out:?}"
        );
        prop_assert_eq!(&self.state, &before);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn machine_keeps_its_promises(wf in arb_workflow(), actions in arb_actions()) {
        let mut world = World::new(&wf);
        world.apply(Event::Start)?;
        for action in actions {
            match action {
                Action::Deliver { pick, roll } => world.deliver(pick, roll)?,
                Action::Duplicate { pick } => world.duplicate(pick)?,
                Action::Cancel => world.apply(Event::Cancel { reason: "test".into() })?,
            }
        }
        // Then the workers answer everything still outstanding, in order, successfully
        // where the roll allows: every mission must reach a terminal state.
        let mut roll = 0u8;
        while !world.pending.is_empty() {
            roll = roll.wrapping_add(3);
            world.deliver(0, roll)?;
        }
        prop_assert!(world.state.status.is_terminal(), "mission stuck in {:?}", world.state.status);
        prop_assert_eq!(world.finishes, 1);
        if world.state.status == MissionStatus::Succeeded {
            for step in &wf.steps {
                prop_assert_eq!(world.succeeded.get(&step.id).copied(), Some(1));
            }
        }
        for step in &world.state.steps {
            prop_assert!(step.status.is_terminal());
        }
    }
}
