use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::template::Template;
use crate::workflow::{RetryPolicy, Step, StepKind, Workflow};

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
                kind: StepKind::Task {
                    agent: "noop".into(),
                    action: "noop".into(),
                    input: Template::Literal(json!({})),
                },
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
                delay: None,
                window: None,
                when: None,
            })
            .collect(),
        on_signal: Default::default(),
        correlation_keys: Vec::new(),
    }
}

fn set_input(wf: &mut Workflow, step: usize, input: Value) {
    if let StepKind::Task { input: t, .. } = &mut wf.steps[step].kind {
        *t = Template::parse(&input).unwrap();
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
    set_input(
        &mut wf,
        1,
        json!({"who": "${inputs.name}", "prev": "${steps.a.output.from}"}),
    );
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
    set_input(&mut wf, 0, json!("${inputs.missing}"));
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

fn wait_for(wf: &mut Workflow, step: usize, signal: &str, timeout: Option<Duration>) {
    wf.steps[step].kind = StepKind::WaitFor {
        signal: signal.into(),
        timeout,
    };
}

fn signal(id: &str, name: &str) -> Event {
    Event::Signal {
        id: id.into(),
        name: name.into(),
        payload: json!({"from": id}),
    }
}

fn armed(applied: &Applied) -> Vec<(TimerKind, DateTime<Utc>)> {
    applied
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::ArmTimer { kind, due } => Some((kind.clone(), *due)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_delay_arms_a_timer_and_the_step_starts_when_it_fires() {
    let mut wf = workflow(&[("a", &[]), ("b", &["a"])]);
    wf.steps[1].delay = Some(Duration::from_secs(3 * 86_400));
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let after_a = apply(&mut s, &wf, ok("a", 1), t0());
    assert!(dispatched(&after_a).is_empty());
    let delay = TimerKind::Delay {
        step: "b".into(),
        attempt: 0,
    };
    assert_eq!(
        armed(&after_a),
        [(delay.clone(), t0() + chrono::Duration::days(3))]
    );
    assert_eq!(s.steps[1].status, StepStatus::Delayed);
    let fired = apply(&mut s, &wf, Event::TimerFired(delay.clone()), t0());
    assert_eq!(dispatched(&fired), [("b".into(), 1)]);
    assert!(apply(&mut s, &wf, Event::TimerFired(delay), t0()).is_noop());
}

#[test]
fn wait_until_succeeds_when_its_moment_comes_or_at_once_when_past() {
    let mut wf = workflow(&[("w", &[]), ("after", &["w"])]);
    wf.steps[0].kind = StepKind::WaitUntil {
        at: Template::parse(&json!("${inputs.at}")).unwrap(),
    };
    let at = t0() + chrono::Duration::hours(5);
    let mut s = MissionState::new("m1", &wf, json!({"at": at.to_rfc3339()}));
    let started = apply(&mut s, &wf, Event::Start, t0());
    let kind = TimerKind::WaitUntil {
        step: "w".into(),
        attempt: 1,
    };
    assert_eq!(armed(&started), [(kind.clone(), at)]);
    let fired = apply(&mut s, &wf, Event::TimerFired(kind), at);
    assert_eq!(dispatched(&fired), [("after".into(), 1)]);

    let mut past = MissionState::new("m2", &wf, json!({"at": "2020-01-01T00:00:00Z"}));
    let started = apply(&mut past, &wf, Event::Start, t0());
    assert_eq!(dispatched(&started), [("after".into(), 1)]);
}

#[test]
fn a_signal_sent_before_its_wait_is_used_when_the_wait_begins() {
    let mut wf = workflow(&[("a", &[]), ("reply", &["a"]), ("thank", &["reply"])]);
    wait_for(&mut wf, 1, "lead.replied", Some(Duration::from_secs(60)));
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let early = apply(&mut s, &wf, signal("sig-1", "lead.replied"), t0());
    assert_eq!(early.changed_signals, [0]);
    assert!(
        early.changed_steps.is_empty(),
        "buffered, nothing moves yet"
    );
    let after_a = apply(&mut s, &wf, ok("a", 1), t0());
    assert_eq!(dispatched(&after_a), [("thank".into(), 1)]);
    assert!(
        armed(&after_a).is_empty(),
        "no timeout armed: the signal was there"
    );
    assert_eq!(
        s.steps[1].output,
        Some(json!({"signal": "lead.replied", "timed_out": false, "payload": {"from": "sig-1"}}))
    );
    assert_eq!(s.signals[0].consumed_by.as_deref(), Some("reply"));
}

#[test]
fn a_signal_sent_twice_acts_once() {
    let mut wf = workflow(&[("reply", &[]), ("next", &["reply"])]);
    wait_for(&mut wf, 0, "lead.replied", None);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let first = apply(&mut s, &wf, signal("sig-1", "lead.replied"), t0());
    assert_eq!(dispatched(&first), [("next".into(), 1)]);
    let again = apply(&mut s, &wf, signal("sig-1", "lead.replied"), t0());
    assert_eq!(again.ignored, Some("duplicate signal"));
    assert_eq!(s.signals.len(), 1);
}

#[test]
fn a_wait_for_times_out_into_a_result_its_dependants_can_read() {
    let mut wf = workflow(&[("reply", &[]), ("next", &["reply"])]);
    wait_for(
        &mut wf,
        0,
        "lead.replied",
        Some(Duration::from_secs(5 * 86_400)),
    );
    let mut s = MissionState::new("m1", &wf, json!({}));
    let started = apply(&mut s, &wf, Event::Start, t0());
    let timeout = TimerKind::WaitTimeout {
        step: "reply".into(),
        attempt: 1,
    };
    assert_eq!(
        armed(&started),
        [(timeout.clone(), t0() + chrono::Duration::days(5))]
    );
    let fired = apply(&mut s, &wf, Event::TimerFired(timeout), t0());
    assert_eq!(dispatched(&fired), [("next".into(), 1)]);
    assert_eq!(
        s.steps[0].output.as_ref().unwrap()["timed_out"],
        json!(true)
    );
    // A signal after the timeout is only buffered: the step is done.
    let late = apply(&mut s, &wf, signal("late", "lead.replied"), t0());
    assert!(late.changed_steps.is_empty());
}

#[test]
fn on_signal_cancel_during_a_timer_wait_ends_the_mission() {
    let mut wf = workflow(&[("a", &[]), ("b", &["a"])]);
    wf.steps[1].delay = Some(Duration::from_secs(86_400));
    wf.on_signal
        .insert("lead.replied".into(), crate::workflow::SignalAction::Cancel);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    apply(&mut s, &wf, ok("a", 1), t0());
    let out = apply(&mut s, &wf, signal("s", "lead.replied"), t0());
    assert_eq!(s.status, MissionStatus::Cancelled);
    assert_eq!(
        s.error.as_deref(),
        Some("cancelled by signal \"lead.replied\"")
    );
    assert_eq!(s.steps[1].status, StepStatus::Cancelled);
    assert!(matches!(
        out.commands.last(),
        Some(Command::Finish {
            status: MissionStatus::Cancelled,
            ..
        })
    ));
    // The delay timer, if it still fires, changes nothing.
    let stale = TimerKind::Delay {
        step: "b".into(),
        attempt: 0,
    };
    assert!(apply(&mut s, &wf, Event::TimerFired(stale), t0()).is_noop());
}

#[test]
fn on_signal_skip_to_skips_what_comes_before_the_target() {
    let mut wf = workflow(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("thank", &["c"])]);
    let thank = wf.step_index("thank").unwrap();
    wf.on_signal.insert(
        "meeting.booked".into(),
        crate::workflow::SignalAction::SkipTo(thank),
    );
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let out = apply(&mut s, &wf, signal("s", "meeting.booked"), t0());
    assert_eq!(dispatched(&out), [("thank".into(), 1)]);
    assert_eq!(
        s.steps.iter().map(|st| st.status).collect::<Vec<_>>(),
        [
            StepStatus::Skipped,
            StepStatus::Skipped,
            StepStatus::Skipped,
            StepStatus::Running
        ]
    );
    // a's late result is stale; thank finishing ends the mission.
    assert!(apply(&mut s, &wf, ok("a", 1), t0()).ignored.is_some());
    apply(&mut s, &wf, ok("thank", 1), t0());
    assert_eq!(s.status, MissionStatus::Succeeded);
}

#[test]
fn retry_reruns_the_failed_step_and_keeps_earlier_outputs() {
    let wf = workflow(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    apply(&mut s, &wf, ok("a", 1), t0());
    apply(&mut s, &wf, fail("b", 1, false), t0());
    assert_eq!(s.status, MissionStatus::Failed);
    let retried = apply(&mut s, &wf, Event::Retry { from: None }, t0());
    assert_eq!(s.status, MissionStatus::Running);
    assert_eq!(
        dispatched(&retried),
        [("b".into(), 2)],
        "a is not run again"
    );
    assert_eq!(s.steps[0].output, Some(json!({"from": "a"})));
    // The retry budget starts again: three more attempts of b are allowed.
    apply(&mut s, &wf, fail("b", 2, true), t0());
    assert_eq!(s.steps[1].status, StepStatus::WaitingRetry);
    // Retrying a running mission is refused.
    assert!(
        apply(&mut s, &wf, Event::Retry { from: None }, t0())
            .ignored
            .is_some()
    );
}

#[test]
fn retry_from_a_step_reruns_it_and_everything_after_it() {
    let wf = workflow(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    apply(&mut s, &wf, ok("a", 1), t0());
    apply(&mut s, &wf, ok("b", 1), t0());
    apply(&mut s, &wf, fail("c", 1, false), t0());
    let retried = apply(
        &mut s,
        &wf,
        Event::Retry {
            from: Some("b".into()),
        },
        t0(),
    );
    assert_eq!(dispatched(&retried), [("b".into(), 2)]);
    assert_eq!(s.steps[2].status, StepStatus::Pending);
    assert_eq!(s.steps[0].status, StepStatus::Succeeded);
}

#[test]
fn a_false_when_skips_the_step_and_its_dependants_still_run() {
    let mut wf = workflow(&[("score", &[]), ("call", &["score"]), ("report", &["call"])]);
    wf.steps[1].when =
        Some(crate::condition::Condition::parse("steps.score.output.from == 'nobody'").unwrap());
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let out = apply(&mut s, &wf, ok("score", 1), t0());
    assert_eq!(s.steps[1].status, StepStatus::Skipped);
    assert_eq!(dispatched(&out), [("report".into(), 1)]);
    apply(&mut s, &wf, ok("report", 1), t0());
    assert_eq!(s.status, MissionStatus::Succeeded);
}

#[test]
fn a_step_outside_its_window_waits_for_the_next_opening_in_local_time() {
    let mut wf = workflow(&[("send", &[])]);
    let raw: crate::window::RawWindow = serde_json::from_value(json!({
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "hours": "09:00-17:00",
        "timezone": "${inputs.tz}"
    }))
    .unwrap();
    wf.steps[0].window = Some(crate::workflow::StepWindow::ZoneFrom {
        raw,
        timezone: Template::parse(&json!("${inputs.tz}")).unwrap(),
    });
    // Friday 2026-11-27 23:30 UTC is 18:30 in New York: closed until Monday 09:00.
    let friday_evening = Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
    let mut s = MissionState::new("m1", &wf, json!({"tz": "America/New_York"}));
    let out = apply(&mut s, &wf, Event::Start, friday_evening);
    assert!(dispatched(&out).is_empty());
    let monday_nine_local = Utc.with_ymd_and_hms(2026, 11, 30, 14, 0, 0).unwrap();
    let delay = TimerKind::Delay {
        step: "send".into(),
        attempt: 0,
    };
    assert_eq!(armed(&out), [(delay.clone(), monday_nine_local)]);
    let fired = apply(&mut s, &wf, Event::TimerFired(delay), monday_nine_local);
    assert_eq!(dispatched(&fired), [("send".into(), 1)]);

    // A lead with an unknown zone fails the step, permanently, saying why.
    let mut bad = MissionState::new("m2", &wf, json!({"tz": "Mars/Olympus"}));
    apply(&mut bad, &wf, Event::Start, friday_evening);
    assert_eq!(bad.status, MissionStatus::Failed);
    assert!(bad.error.unwrap().contains("Mars/Olympus"));
}

fn defer(step: &str, attempt: u32, until: DateTime<Utc>) -> Event {
    Event::StepDeferred {
        step: step.into(),
        attempt,
        until,
        reason: "mailbox_daily_cap".into(),
    }
}

#[test]
fn a_deferral_reruns_the_step_at_its_time_without_spending_the_retry_budget() {
    let wf = workflow(&[("a", &[]), ("b", &["a"])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    // max_attempts is 3: five deferrals in a row still leave every try
    let mut attempt = 1;
    for day in 1..=5 {
        let until = t0() + chrono::Duration::days(day);
        let deferred = apply(&mut s, &wf, defer("a", attempt, until), t0());
        assert_eq!(
            armed(&deferred),
            [(
                TimerKind::Retry {
                    step: "a".into(),
                    attempt: attempt + 1
                },
                until
            )]
        );
        assert_eq!(s.steps[0].status, StepStatus::WaitingRetry);
        assert!(
            dispatched(&deferred).is_empty(),
            "nothing runs before its time"
        );
        let fired = apply(
            &mut s,
            &wf,
            Event::TimerFired(TimerKind::Retry {
                step: "a".into(),
                attempt: attempt + 1,
            }),
            until,
        );
        attempt += 1;
        assert_eq!(dispatched(&fired), [("a".into(), attempt)]);
    }
    // two failures after the deferrals are retried: the budget started again
    for _ in 0..2 {
        let failed = apply(&mut s, &wf, fail("a", attempt, true), t0());
        assert_eq!(s.status, MissionStatus::Running, "{failed:?}");
        attempt += 1;
        apply(
            &mut s,
            &wf,
            Event::TimerFired(TimerKind::Retry {
                step: "a".into(),
                attempt,
            }),
            t0(),
        );
    }
    apply(&mut s, &wf, ok("a", attempt), t0());
    assert_eq!(s.steps[1].status, StepStatus::Running, "b runs after a");
}

#[test]
fn a_deferral_to_the_past_reruns_at_once_and_a_stale_one_is_ignored() {
    let wf = workflow(&[("a", &[])]);
    let mut s = MissionState::new("m1", &wf, json!({}));
    apply(&mut s, &wf, Event::Start, t0());
    let now = t0() + chrono::Duration::hours(1);
    let deferred = apply(&mut s, &wf, defer("a", 1, t0()), now);
    assert_eq!(armed(&deferred)[0].1, now, "never armed in the past");
    // a duplicate of the same result, and one about another attempt
    assert!(
        apply(&mut s, &wf, defer("a", 1, t0()), now)
            .ignored
            .is_some()
    );
    assert!(
        apply(&mut s, &wf, defer("a", 7, t0()), now)
            .ignored
            .is_some()
    );
}
