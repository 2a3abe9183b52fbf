//! The fan-out transitions, pure: items started up to `max_concurrency`, counts taken
//! from the store's tallies (duplicates and stale ones harmless), joins, failure
//! policies, and children released when the step stops.

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::validate::{ValidateOptions, load};
use crate::workflow::Workflow;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn fan(max: u32, policy: &str) -> Workflow {
    let yaml = format!(
        r#"
name: fan
version: 1
inputs:
  items: {{type: array, required: true}}
steps:
  - id: each
    for_each: ${{inputs.items}}
    max_concurrency: {max}
    failure_policy: {policy}
    agent: probe
    action: run
    input: {{n: "${{item.n}}", i: "${{item_index}}", all: "${{inputs.items}}"}}
  - {{id: after, agent: noop, action: noop, depends_on: [each]}}
"#
    );
    load(yaml.as_bytes(), None, &ValidateOptions::default())
        .unwrap()
        .1
}

fn items(n: u32) -> Value {
    json!({"items": (0..n).map(|i| json!({"n": i * 10})).collect::<Vec<_>>()})
}

fn started(wf: &Workflow, n: u32) -> (MissionState, Applied) {
    let mut state = MissionState::new("m", wf, items(n));
    let applied = apply(&mut state, wf, Event::Start, t0());
    (state, applied)
}

fn spawned(applied: &Applied) -> Vec<ChildSpec> {
    applied
        .commands
        .iter()
        .flat_map(|c| match c {
            Command::SpawnChildren { children, .. } => children.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn finished(state: &mut MissionState, wf: &Workflow, tally: ChildTally) -> Applied {
    apply(
        state,
        wf,
        Event::ChildFinished {
            step: "each".into(),
            attempt: 1,
            tally: Some(tally),
        },
        t0(),
    )
}

fn tally(succeeded: u32, failed: u32) -> ChildTally {
    ChildTally {
        succeeded,
        failed,
        ..ChildTally::default()
    }
}

#[test]
fn items_start_up_to_max_concurrency_with_their_resolved_inputs() {
    let wf = fan(3, "fail_fast");
    let (state, applied) = started(&wf, 5);
    let children = spawned(&applied);
    assert_eq!(children.len(), 3);
    assert_eq!(children[1].index, 1);
    assert_eq!(children[1].input["n"], 10);
    assert_eq!(children[1].input["i"], 1);
    assert_eq!(children[1].input["all"].as_array().unwrap().len(), 5);
    assert_eq!(state.steps[0].status, StepStatus::Running);
    assert_eq!(
        state.steps[0].fanout,
        Some(FanState {
            total: 5,
            started: 3,
            succeeded: 0,
            failed: 0
        })
    );
}

#[test]
fn each_finished_child_makes_room_for_one_more_and_a_duplicate_changes_nothing() {
    let wf = fan(3, "fail_fast");
    let (mut state, _) = started(&wf, 5);
    let next = finished(&mut state, &wf, tally(1, 0));
    let children = spawned(&next);
    assert_eq!(
        children.iter().map(|c| c.index).collect::<Vec<_>>(),
        vec![3]
    );
    let dup = finished(&mut state, &wf, tally(1, 0));
    assert!(dup.ignored.is_some() && dup.commands.is_empty());
    // a stale, smaller tally arriving late does not lower the counts
    let stale = finished(&mut state, &wf, tally(0, 0));
    assert!(stale.ignored.is_some());
    assert_eq!(state.steps[0].fanout.unwrap().succeeded, 1);
}

#[test]
fn the_join_waits_for_the_results_then_succeeds_with_them_in_order() {
    let wf = fan(5, "fail_fast");
    let (mut state, _) = started(&wf, 2);
    let without = finished(&mut state, &wf, tally(2, 0));
    assert!(
        without.ignored.is_some(),
        "a complete count needs the results"
    );
    let results = vec![json!({"a": 0}), json!({"a": 1})];
    let joined = finished(
        &mut state,
        &wf,
        ChildTally {
            results: Some(results.clone()),
            ..tally(2, 0)
        },
    );
    assert_eq!(state.steps[0].status, StepStatus::Succeeded);
    assert_eq!(
        state.steps[0].output,
        Some(json!({"results": results, "failures": [], "total": 2, "succeeded": 2, "failed": 0}))
    );
    assert!(
        joined
            .commands
            .iter()
            .any(|c| matches!(c, Command::Dispatch(t) if t.step_id == "after"))
    );
}

#[test]
fn fail_fast_fails_the_step_at_the_first_failure_and_cancels_the_rest() {
    let wf = fan(3, "fail_fast");
    let (mut state, _) = started(&wf, 5);
    let failure = ItemFailure {
        index: 2,
        error: "smtp 550".into(),
    };
    let out = finished(
        &mut state,
        &wf,
        ChildTally {
            failures: vec![failure],
            ..tally(0, 1)
        },
    );
    assert_eq!(state.steps[0].status, StepStatus::Failed);
    assert_eq!(state.status, MissionStatus::Failed);
    assert!(
        state
            .error
            .as_deref()
            .unwrap()
            .contains("item 2 failed: smtp 550")
    );
    assert!(out.commands.contains(&Command::CancelChildren {
        step: 0,
        attempt: 1
    }));
    assert!(spawned(&out).is_empty());
}

#[test]
fn continue_runs_every_item_and_lists_the_failures() {
    let wf = fan(2, "continue");
    let (mut state, _) = started(&wf, 3);
    let more = finished(&mut state, &wf, tally(0, 1));
    assert_eq!(
        spawned(&more).len(),
        1,
        "a failure makes room under continue"
    );
    let failures = vec![ItemFailure {
        index: 0,
        error: "boom".into(),
    }];
    finished(
        &mut state,
        &wf,
        ChildTally {
            failures: failures.clone(),
            results: Some(vec![Value::Null, json!(1), json!(2)]),
            ..tally(2, 1)
        },
    );
    assert_eq!(state.steps[0].status, StepStatus::Succeeded);
    let output = state.steps[0].output.clone().unwrap();
    assert_eq!(output["failed"], 1);
    assert_eq!(output["failures"], json!([{"index": 0, "error": "boom"}]));
}

#[test]
fn an_empty_list_succeeds_at_once_and_a_non_array_fails_naming_the_expression() {
    let wf = fan(3, "fail_fast");
    let (state, applied) = started(&wf, 0);
    assert!(spawned(&applied).is_empty());
    assert_eq!(state.steps[0].status, StepStatus::Succeeded);
    assert_eq!(state.steps[0].output.as_ref().unwrap()["total"], 0);

    let mut state = MissionState::new("m", &wf, json!({"items": {"not": "a list"}}));
    apply(&mut state, &wf, Event::Start, t0());
    assert_eq!(state.status, MissionStatus::Failed);
    let error = state.error.unwrap();
    assert!(
        error.contains("for_each: ${inputs.items} is an object, not an array"),
        "{error}"
    );
}

#[test]
fn cancelling_the_mission_releases_the_running_children() {
    let wf = fan(3, "fail_fast");
    let (mut state, _) = started(&wf, 5);
    let out = apply(
        &mut state,
        &wf,
        Event::Cancel {
            reason: "op".into(),
        },
        t0(),
    );
    assert!(out.commands.contains(&Command::CancelChildren {
        step: 0,
        attempt: 1
    }));
    // and a child finishing afterwards is ignored
    assert!(finished(&mut state, &wf, tally(1, 0)).ignored.is_some());
}

#[test]
fn a_retried_fan_out_starts_afresh_at_a_new_attempt() {
    let wf = fan(2, "fail_fast");
    let (mut state, _) = started(&wf, 2);
    finished(&mut state, &wf, tally(0, 1));
    assert_eq!(state.status, MissionStatus::Failed);
    let out = apply(&mut state, &wf, Event::Retry { from: None }, t0());
    assert!(out.commands.iter().any(|c| matches!(
        c,
        Command::SpawnChildren { attempt: 2, children, .. } if children.len() == 2
    )));
    // a late child of attempt 1 does not count for attempt 2
    assert!(finished(&mut state, &wf, tally(1, 0)).ignored.is_some());
}

proptest! {
    /// Whatever order and duplication the tallies arrive in, no more than
    /// `max_concurrency` items run at once, each item starts once, and the step joins
    /// exactly once with every result.
    #[test]
    fn concurrency_is_bounded_and_the_join_happens_once(
        total in 0u32..40,
        max in 1u32..8,
        picks in proptest::collection::vec((any::<u8>(), any::<bool>()), 0..200),
    ) {
        let wf = fan(max, "continue");
        let (mut state, applied) = started(&wf, total);
        let mut running: Vec<u32> = spawned(&applied).iter().map(|c| c.index).collect();
        let mut starts = running.clone();
        let (mut ok, mut failed) = (0u32, 0u32);
        let mut joins = usize::from(state.steps[0].status == StepStatus::Succeeded);
        let mut picks = picks.into_iter();
        while state.steps[0].status == StepStatus::Running {
            prop_assert!(running.len() as u32 <= max);
            let (pick, fail) = picks.next().unwrap_or((1, false));
            let duplicate = running.is_empty() || pick % 5 == 0;
            if !duplicate {
                running.swap_remove(pick as usize % running.len());
                if fail { failed += 1 } else { ok += 1 }
            }
            let complete = ok + failed == total;
            let out = finished(&mut state, &wf, ChildTally {
                results: complete.then(|| vec![json!(1); total as usize]),
                ..tally(ok, failed)
            });
            for child in spawned(&out) {
                prop_assert!(!starts.contains(&child.index), "item {} started twice", child.index);
                starts.push(child.index);
                running.push(child.index);
            }
            if state.steps[0].status == StepStatus::Succeeded {
                joins += 1;
            }
        }
        prop_assert_eq!(joins, 1);
        prop_assert_eq!(starts.len() as u32, total);
        let output = state.steps[0].output.clone().unwrap();
        prop_assert_eq!(output["results"].as_array().unwrap().len() as u32, total);
    }
}
