use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::template::Template;
use crate::workflow::{RetryPolicy, Step, Workflow};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn workflow(steps: &[(&str, &[&str])]) -> Workflow {
    let ids: Vec<&str> = steps.iter().map(|(id, _)| *id).collect();
    Workflow {
        name: "test".into(),
        version: 1,
        description: None,
        inputs: Default::default(),
        steps: steps
            .iter()
            .map(|(id, deps)| Step {
                id: (*id).into(),
                agent: "noop".into(),
                action: "noop".into(),
                input: Template::Literal(json!({})),
                depends_on: deps
                    .iter()
                    .map(|d| ids.iter().position(|i| i == d).unwrap())
                    .collect(),
                retry: RetryPolicy {
                    max_attempts: 3,
                    initial_delay: Duration::from_millis(100),
                    multiplier: 2.0,
                    max_delay: Duration::from_secs(1),
                    jitter: 0.0,
                },
                timeout: None,
            })
            .collect(),
    }
}

fn dispatched(applied: &Applied) -> Vec<(String, u32)> {
    applied
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Dispatch(t) => Some((t.step_id.clone(), t.attempt)),
            _ => None,
        })
        .collect()
}

fn ok(step: &str, attempt: u32) -> Event {
    Event::StepSucceeded {
        step: step.into(),
        attempt,
        output: json!({"from": step}),
    }
}

fn fail(step: &str, attempt: u32, retryable: bool) -> Event {
    Event::StepFailed {
        step: step.into(),
        attempt,
        error: StepFailure {
            message: "boom".into(),
            retryable,
        },
    }
}

#[test]
fn diamond_dispatches_roots_then_both_branches_then_the_join() {
    let wf = workflow(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    assert_eq!(
        dispatched(&apply(&mut s, &wf, Event::Start, t0())),
        [("a".into(), 1)]
    );
    let after_a = apply(&mut s, &wf, ok("a", 1), t0());
    assert_eq!(dispatched(&after_a), [("b".into(), 1), ("c".into(), 1)]);
    assert!(dispatched(&apply(&mut s, &wf, ok("c", 1), t0())).is_empty());
    assert_eq!(
        dispatched(&apply(&mut s, &wf, ok("b", 1), t0())),
        [("d".into(), 1)]
    );
    let done = apply(&mut s, &wf, ok("d", 1), t0());
    assert_eq!(s.status, MissionStatus::Succeeded);
    assert_eq!(
        done.commands,
        [Command::Finish {
            status: MissionStatus::Succeeded,
            output: Some(json!({"d": {"from": "d"}})),
            error: None
        }]
    );
}

#[test]
fn retryable_failure_arms_a_backoff_timer_and_redispatches_on_fire() {
    let wf = workflow(&[("a", &[])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let failed = apply(&mut s, &wf, fail("a", 1, true), t0());
    let retry = TimerKind::Retry {
        step: "a".into(),
        attempt: 2,
    };
    assert_eq!(
        failed.commands,
        [Command::ArmTimer {
            kind: retry.clone(),
            due: t0() + chrono::Duration::milliseconds(100)
        }]
    );
    assert_eq!(s.steps[0].status, StepStatus::WaitingRetry);
    let fired = apply(&mut s, &wf, Event::TimerFired(retry.clone()), t0());
    assert_eq!(dispatched(&fired), [("a".into(), 2)]);
    // The same timer firing twice changes nothing.
    assert!(apply(&mut s, &wf, Event::TimerFired(retry), t0()).is_noop());
    let second = apply(&mut s, &wf, fail("a", 2, true), t0());
    assert!(matches!(
        &second.commands[..],
        [Command::ArmTimer { due, .. }] if *due == t0() + chrono::Duration::milliseconds(200)
    ));
}

#[test]
fn exhausted_retries_fail_the_mission_with_the_error() {
    let wf = workflow(&[("a", &[]), ("b", &["a"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    for attempt in 1..=3 {
        apply(&mut s, &wf, fail("a", attempt, true), t0());
        apply(
            &mut s,
            &wf,
            Event::TimerFired(TimerKind::Retry {
                step: "a".into(),
                attempt: attempt + 1,
            }),
            t0(),
        );
    }
    assert_eq!(s.status, MissionStatus::Failed);
    assert_eq!(s.steps[0].attempt, 3);
    assert_eq!(
        s.error.as_deref(),
        Some("step \"a\" failed after 3 attempts: boom")
    );
    assert_eq!(s.steps[1].status, StepStatus::Cancelled);
}

#[test]
fn permanent_failure_fails_at_once_and_dispatches_no_dependent() {
    let wf = workflow(&[("a", &[]), ("b", &["a"]), ("c", &[])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let out = apply(&mut s, &wf, fail("a", 1, false), t0());
    assert!(dispatched(&out).is_empty());
    assert_eq!(s.status, MissionStatus::Failed);
    assert_eq!(s.steps[1].status, StepStatus::Cancelled);
    assert_eq!(s.steps[2].status, StepStatus::Cancelled);
    // c's late result is ignored.
    assert_eq!(
        apply(&mut s, &wf, ok("c", 1), t0()).ignored,
        Some("mission is not running")
    );
}

#[test]
fn duplicate_and_stale_results_change_nothing() {
    let wf = workflow(&[("a", &[]), ("b", &["a"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    apply(&mut s, &wf, ok("a", 1), t0());
    let before = s.clone();
    assert_eq!(
        apply(&mut s, &wf, ok("a", 1), t0()).ignored,
        Some("step is not running")
    );
    assert_eq!(
        apply(&mut s, &wf, ok("b", 7), t0()).ignored,
        Some("stale attempt")
    );
    assert_eq!(
        apply(&mut s, &wf, ok("zzz", 1), t0()).ignored,
        Some("unknown step")
    );
    assert_eq!(
        apply(&mut s, &wf, Event::Start, t0()).ignored,
        Some("mission already started")
    );
    assert_eq!(s, before);
}

#[test]
fn timeout_counts_as_a_retryable_failure_of_that_attempt_only() {
    let mut wf = workflow(&[("a", &[])]);
    wf.steps[0].timeout = Some(Duration::from_secs(5));
    let mut s = MissionState::new("m1", &wf, json!({}));
    let started = apply(&mut s, &wf, Event::Start, t0());
    let timeout = TimerKind::Timeout {
        step: "a".into(),
        attempt: 1,
    };
    assert!(started.commands.contains(&Command::ArmTimer {
        kind: timeout.clone(),
        due: t0() + chrono::Duration::seconds(5)
    }));
    let timed_out = apply(&mut s, &wf, Event::TimerFired(timeout), t0());
    assert_eq!(s.steps[0].status, StepStatus::WaitingRetry);
    assert!(timed_out.commands.iter().any(|c| matches!(
        c,
        Command::ArmTimer {
            kind: TimerKind::Retry { attempt: 2, .. },
            ..
        }
    )));
    // The slow attempt's late result no longer counts.
    assert_eq!(
        apply(&mut s, &wf, ok("a", 1), t0()).ignored,
        Some("step is not running")
    );
}

#[test]
fn cancel_stops_everything_once() {
    let wf = workflow(&[("a", &[]), ("b", &["a"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let out = apply(
        &mut s,
        &wf,
        Event::Cancel {
            reason: "lead replied".into(),
        },
        t0(),
    );
    assert_eq!(s.status, MissionStatus::Cancelled);
    assert_eq!(out.changed_steps, [0, 1]);
    assert!(
        apply(
            &mut s,
            &wf,
            Event::Cancel {
                reason: "again".into()
            },
            t0()
        )
        .is_noop()
    );
}

#[test]
fn step_input_resolves_inputs_and_ancestor_outputs() {
    let mut wf = workflow(&[("a", &[]), ("b", &["a"])]);
    wf.steps[1].input =
        Template::parse(&json!({"who": "${inputs.name}", "prev": "${steps.a.output.from}"}))
            .unwrap();
    let mut s = MissionState::new("m1", &wf, json!({"name": "Ada"}));
    apply(&mut s, &wf, Event::Start, t0());
    let out = apply(&mut s, &wf, ok("a", 1), t0());
    let Command::Dispatch(task) = &out.commands[0] else {
        panic!("expected a dispatch, got {:?}", out.commands)
    };
    assert_eq!(task.input, json!({"who": "Ada", "prev": "a"}));
}

#[test]
fn unresolvable_input_fails_the_step_permanently() {
    let mut wf = workflow(&[("a", &[])]);
    wf.steps[0].input = Template::parse(&json!("${inputs.missing}")).unwrap();
    let mut s = MissionState::new("m1", &wf, Value::Null);
    apply(&mut s, &wf, Event::Start, t0());
    assert_eq!(s.status, MissionStatus::Failed);
    assert_eq!(
        s.error.as_deref(),
        Some("step \"a\" failed permanently on attempt 1: input: ${inputs.missing} not found")
    );
}

#[test]
fn statuses_round_trip_through_their_names() {
    for s in [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::WaitingRetry,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Cancelled,
    ] {
        assert_eq!(s.as_str().parse::<StepStatus>(), Ok(s));
    }
    assert!("weird".parse::<MissionStatus>().is_err());
}
