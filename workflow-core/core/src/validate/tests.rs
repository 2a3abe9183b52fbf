//! Good-path and cross-cutting tests of validation; the catalogue of bad definitions
//! lives in `tests/bad_definitions.rs`.

use std::time::Duration;

use serde_json::json;

use super::*;

use crate::workflow::{InputType, RetryPolicy, Step, StepKind};

const HELLO: &str = r#"
name: lead-reactivation
version: 3
description: wakes a lead up
inputs:
  lead_id: {type: string, required: true, description: "the lead"}
  limit:   {type: integer, default: 10}
steps:
  - id: score
    agent: icp
    action: score
    input: {lead: "${inputs.lead_id}", n: "${inputs.limit}"}
  - id: scrape
    agent: scraper
    action: enrich
    depends_on: [score]
    timeout: 30s
    retry: {max_attempts: 5, initial_delay: 250ms, max_delay: 1m, multiplier: 1.5, jitter: 0}
  - id: write
    agent: personalizer
    action: write
    depends_on: [scrape, score]
    input:
      text: "Hi ${steps.scrape.output.name}, score ${steps.score.output}"
"#;

fn load_ok(text: &str) -> Workflow {
    match load(text.as_bytes(), None, &ValidateOptions::default()) {
        Ok((_, wf)) => wf,
        Err(e) => panic!("expected a valid definition, got:\n{e}"),
    }
}

fn load_err(text: &str) -> ValidationError {
    load(text.as_bytes(), Some("x.yaml"), &ValidateOptions::default())
        .expect_err("expected the definition to be rejected")
}

#[test]
fn a_valid_definition_compiles_every_field() {
    let wf = load_ok(HELLO);
    assert_eq!(wf.name, "lead-reactivation");
    assert_eq!(wf.version, 3);
    assert_eq!(wf.description.as_deref(), Some("wakes a lead up"));
    assert_eq!(wf.inputs["lead_id"].kind, InputType::String);
    assert!(wf.inputs["lead_id"].required);
    assert_eq!(wf.inputs["limit"].default, Some(json!(10)));

    let [score, scrape, write] = wf.steps.as_slice() else {
        panic!("three steps expected")
    };
    let StepKind::Task {
        agent,
        action,
        input,
    } = &score.kind
    else {
        panic!("a task step expected")
    };
    assert_eq!((agent.as_str(), action.as_str()), ("icp", "score"));
    assert_eq!(score.retry, RetryPolicy::default());
    assert_eq!(score.timeout, None);
    assert_eq!(
        *input,
        Template::parse(&json!({"lead": "${inputs.lead_id}", "n": "${inputs.limit}"})).unwrap()
    );
    assert_eq!(scrape.timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        scrape.retry,
        RetryPolicy {
            max_attempts: 5,
            initial_delay: Duration::from_millis(250),
            multiplier: 1.5,
            max_delay: Duration::from_secs(60),
            jitter: 0.0,
        }
    );
    // Sorted indices, whatever the written order.
    assert_eq!(write.depends_on, vec![0, 1]);
    assert_eq!(task_input(write).exprs().len(), 2);
}

fn task_input(step: &Step) -> &Template {
    match &step.kind {
        StepKind::Task { input, .. } => input,
        other => panic!("a task step expected, got {other:?}"),
    }
}

#[test]
fn a_missing_input_is_an_empty_object() {
    let wf = load_ok("name: x\nversion: 1\nsteps: [{id: a, agent: noop, action: noop}]\n");
    assert_eq!(*task_input(&wf.steps[0]), Template::Object(vec![]));
    assert!(wf.inputs.is_empty());
}

#[test]
fn partial_retry_policies_take_the_defaults() {
    let wf = load_ok(
        "name: x\nversion: 1\nsteps:\n  - {id: a, agent: noop, action: noop, retry: \
         {max_attempts: 1}}\n",
    );
    assert_eq!(wf.steps[0].retry, RetryPolicy::none());
}

#[test]
fn json_and_yaml_give_the_same_workflow() {
    let (raw, from_yaml) = load(HELLO.as_bytes(), None, &ValidateOptions::default()).unwrap();
    let json = crate::definition::canonical_json(&raw);
    let (raw_again, from_json) = load(
        json.as_bytes(),
        Some("stored.json"),
        &ValidateOptions::default(),
    )
    .unwrap();
    assert_eq!(from_json, from_yaml);
    assert_eq!(raw_again, raw);
}

#[test]
fn validate_without_text_reports_no_lines() {
    let mut raw: RawDefinition = serde_norway::from_str(HELLO).unwrap();
    raw.steps[2].depends_on.push("nope".into());
    let err = validate(&raw, None, &ValidateOptions::default()).unwrap_err();
    assert_eq!(err.codes(), vec![ProblemCode::UnknownDependency]);
    assert_eq!(err.problems[0].line, None);
    assert_eq!(
        err.to_string(),
        "step \"write\": depends_on[2]: \"nope\" is not a step"
    );
}

#[test]
fn semantic_problems_point_at_their_line() {
    let err = load_err(
        "name: x\nversion: 1\nsteps:\n  - id: a\n    agent: noop\n    action: noop\n  - id: b\n    \
         agent: noop\n    action: noop\n    timeout: 0s\n",
    );
    assert_eq!(err.problems[0].line, Some(10));
    assert_eq!(
        err.to_string(),
        "x.yaml:10: step \"b\": timeout: timeout 0s must be longer than zero"
    );
}

#[test]
fn problems_in_json_point_at_their_line() {
    let text = r#"{
  "name": "x",
  "version": 1,
  "steps": [
    {"id": "a", "agent": "noop", "action": "noop"},
    {
      "id": "b",
      "agent": "noop",
      "action": "noop",
      "depends_on": ["c"]
    }
  ]
}"#;
    let err = load(text.as_bytes(), None, &ValidateOptions::default()).unwrap_err();
    assert_eq!(err.codes(), vec![ProblemCode::UnknownDependency]);
    assert_eq!(err.problems[0].line, Some(10));
}

#[test]
fn a_duration_that_is_a_json_number_is_the_wrong_type() {
    let text = r#"{"name": "x", "version": 1, "steps": [
        {"id": "a", "agent": "noop", "action": "noop", "timeout": 30}]}"#;
    let err = load(text.as_bytes(), None, &ValidateOptions::default()).unwrap_err();
    let p = &err.problems[0];
    assert_eq!(p.code, ProblemCode::WrongType);
    assert_eq!(p.field, "steps[0].timeout");
    assert_eq!(p.step.as_deref(), Some("a"));
    assert!(
        p.message.contains("expected a duration such as \"30s\""),
        "{}",
        p.message
    );
}

#[test]
fn known_agents_are_only_checked_when_given() {
    let text = "name: x\nversion: 1\nsteps: [{id: a, agent: whatever, action: go}]\n";
    assert!(load(text.as_bytes(), None, &ValidateOptions::default()).is_ok());
    let opts = ValidateOptions::with_known_agents(["noop"]);
    let err = load(text.as_bytes(), None, &opts).unwrap_err();
    assert_eq!(
        err.problems[0].message,
        "unknown agent \"whatever\" (known agents: noop)"
    );
    let none = ValidateOptions::with_known_agents(Vec::<String>::new());
    let err = load(text.as_bytes(), None, &none).unwrap_err();
    assert_eq!(
        err.problems[0].message,
        "unknown agent \"whatever\" (no agents are known)"
    );
}

#[test]
fn limits_are_configurable() {
    let text = "name: x\nversion: 1\nsteps:\n  - {id: a, agent: noop, action: noop}\n  - {id: b, \
                agent: noop, action: noop}\n";
    let opts = ValidateOptions {
        max_steps: 1,
        ..ValidateOptions::default()
    };
    let err = load(text.as_bytes(), None, &opts).unwrap_err();
    assert_eq!(err.problems[0].message, "2 steps, at most 1");
    let opts = ValidateOptions {
        max_bytes: 10,
        ..ValidateOptions::default()
    };
    let err = load(text.as_bytes(), None, &opts).unwrap_err();
    assert_eq!(err.codes(), vec![ProblemCode::TooLarge]);
}

#[test]
fn problems_are_grouped_by_step_in_order() {
    let err = load_err(
        "name: x\nversion: 1\nsteps:\n  - {id: a, agent: noop, action: noop, depends_on: [b], \
         timeout: 0s}\n  - {id: b, agent: noop, action: noop, depends_on: [a]}\n  - {id: a, \
         agent: noop, action: ''}\n",
    );
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "steps[0].timeout",
            "steps[0].depends_on[0]",
            "steps[2].id",
            "steps[2].action"
        ]
    );
}

#[test]
fn keys_that_are_not_words_are_quoted_in_paths() {
    let err = load_err(
        "name: x\nversion: 1\nsteps:\n  - id: a\n    agent: noop\n    action: noop\n    \
         input:\n      \"first name\": [\"${inputs.nope}\"]\n",
    );
    assert_eq!(err.problems[0].field, "steps[0].input[\"first name\"][0]");
    assert_eq!(err.problems[0].line, Some(8));
}
