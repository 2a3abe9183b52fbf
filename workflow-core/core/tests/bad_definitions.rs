//! The catalogue of bad definitions: each is rejected with its own problem code, a
//! specific message, and the step and field at fault.
//!
//! Fixture files live in `tests/bad/`; the huge or binary ones are generated here. Every
//! single-problem fixture must yield exactly that one problem: a spurious second problem
//! is a bug too.

use std::path::PathBuf;

use rex_core::{ProblemCode, ValidateOptions, ValidationError, load};

/// The built-in agents plus `scraper`, so that typos of it have something to match.
fn options() -> ValidateOptions {
    ValidateOptions::with_known_agents(["noop", "echo", "sleep", "fail", "scraper"])
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad")
        .join(name)
}

fn load_fixture(name: &str) -> ValidationError {
    let bytes = std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = format!("tests/bad/{name}");
    match load(&bytes, Some(&file), &options()) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e,
    }
}

fn load_bytes(bytes: &[u8], file: &str) -> ValidationError {
    match load(bytes, Some(file), &options()) {
        Ok(_) => panic!("{file} was accepted"),
        Err(e) => e,
    }
}

/// Asserts that `err` holds exactly one problem with this code and message part, and
/// with the step, field and line when given.
fn assert_only(
    err: &ValidationError,
    code: ProblemCode,
    text: &str,
    step: Option<&str>,
    field: Option<&str>,
    line: Option<usize>,
) {
    assert_eq!(err.problems.len(), 1, "expected one problem, got:\n{err}");
    let p = &err.problems[0];
    assert_eq!(p.code, code, "{err}");
    assert!(
        p.message.contains(text),
        "{:?} not in {:?}",
        text,
        p.message
    );
    assert_eq!(p.step.as_deref(), step, "step of: {err}");
    if let Some(field) = field {
        assert_eq!(p.field, field, "field of: {err}");
    }
    if let Some(line) = line {
        assert_eq!(p.line, Some(line), "line of: {err}");
    }
}

/// One test per fixture:
/// `test_name("file", Code) "message part", step: …, field: …, line: …;`
/// where step, field and line are options (`None` skips the field and line checks).
macro_rules! bad {
    ($(
        $name:ident($file:literal, $code:ident) $text:literal,
        step: $step:expr, field: $field:expr, line: $line:expr;
    )*) => {$(
        #[test]
        fn $name() {
            let err = load_fixture($file);
            assert_only(&err, ProblemCode::$code, $text, $step, $field, $line);
        }
    )*};
}

bad! {
    // The graph.
    a_cycle_is_reported_as_its_path("cycle.yaml", Cycle)
        "cycle in depends_on: a -> c -> b -> a",
        step: Some("a"), field: Some("steps[0].depends_on[0]"), line: Some(8);
    a_step_cannot_depend_on_itself("self_dependency.yaml", SelfDependency)
        "a step cannot depend on itself",
        step: Some("loop"), field: Some("steps[1].depends_on[1]"), line: Some(10);
    an_unknown_dependency_suggests_the_closest_step("unknown_dependency.yaml", UnknownDependency)
        "\"scrape\" is not a step (did you mean \"scraper\"?)",
        step: Some("enrich"), field: Some("steps[1].depends_on[0]"), line: Some(10);
    a_dependency_listed_twice_is_rejected("duplicate_dependency.yaml", DuplicateDependency)
        "\"a\" is listed twice",
        step: Some("b"), field: Some("steps[1].depends_on[1]"), line: Some(10);
    a_duplicate_step_id_names_the_first_use("duplicate_step_id.yaml", DuplicateStepId)
        "duplicate step id \"send\" (also steps[0])",
        step: Some("send"), field: Some("steps[1].id"), line: Some(7);
    a_step_id_must_match_the_name_pattern("bad_step_id.yaml", InvalidStepId)
        "step id \"Send Email\" must be a lowercase letter",
        step: Some("Send Email"), field: Some("steps[0].id"), line: Some(4);

    // Unknown fields, missing fields, wrong types.
    an_unknown_top_level_field_is_named_with_its_line("unknown_field_top.yaml", UnknownField)
        "unknown field \"descripton\"",
        step: None, field: Some("descripton"), line: Some(3);
    an_unknown_step_field_suggests_the_real_one("unknown_field_step.yaml", UnknownField)
        "unknown field \"depend_on\", expected one of",
        step: Some("b"), field: Some("steps[1].depend_on"), line: Some(10);
    an_unknown_retry_field_is_rejected("unknown_field_retry.yaml", UnknownField)
        "unknown field \"backoff\"",
        step: Some("flaky"), field: Some("steps[0].retry.backoff"), line: Some(9);
    an_unknown_field_in_json_gets_its_path_and_line("unknown_field.json", UnknownField)
        "(did you mean \"timeout\"?)",
        step: Some("a"), field: Some("steps[0].timout"), line: Some(9);
    a_missing_agent_is_named("missing_agent.yaml", MissingField)
        "missing field \"agent\"",
        step: Some("orphan"), field: Some("steps[1].agent"), line: Some(7);
    a_missing_action_is_named("missing_action.yaml", MissingField)
        "missing field \"action\"",
        step: Some("a"), field: Some("steps[0].action"), line: None;
    a_version_that_is_not_a_number_is_the_wrong_type("wrong_type_version.yaml", WrongType)
        "invalid type: string \"one\", expected a non-negative integer",
        step: None, field: Some("version"), line: Some(2);
    an_unknown_input_type_lists_the_types("unknown_input_type.yaml", InvalidValue)
        "unknown variant \"strnig\", expected one of \"string\"",
        step: None, field: Some("inputs.lead_id.type"), line: Some(4);

    // Syntax.
    a_yaml_syntax_error_has_its_line_and_column("yaml_syntax.yaml", Syntax)
        "invalid YAML: did not find expected ',' or ']'",
        step: None, field: Some(""), line: Some(8);
    a_json_syntax_error_has_its_line_and_column("json_syntax.json", Syntax)
        "invalid JSON: trailing comma",
        step: None, field: Some(""), line: Some(6);

    // The definition as a whole.
    empty_steps_are_rejected("empty_steps.yaml", NoSteps)
        "a workflow needs at least one step",
        step: None, field: Some("steps"), line: Some(3);
    version_zero_is_rejected("version_zero.yaml", InvalidVersion)
        "version must be at least 1",
        step: None, field: Some("version"), line: Some(2);
    a_name_must_match_the_pattern("bad_name.yaml", InvalidName)
        "name \"Lead Reactivation\" must be a lowercase letter",
        step: None, field: Some("name"), line: Some(1);
    an_empty_name_is_rejected("empty_name.yaml", EmptyName)
        "name must not be empty",
        step: None, field: Some("name"), line: Some(1);

    // Inputs.
    a_default_of_the_wrong_type_is_rejected("default_wrong_type.yaml", DefaultTypeMismatch)
        "default \"ten\" is not an integer",
        step: None, field: Some("inputs.limit.default"), line: Some(4);
    a_required_input_cannot_have_a_default("required_with_default.yaml", RequiredWithDefault)
        "a required input cannot have a default",
        step: None, field: Some("inputs.lead_id.default"), line: Some(4);
    an_input_name_must_be_referable("bad_input_name.yaml", InvalidInputName)
        "input name \"lead.id\" must be",
        step: None, field: Some("inputs[\"lead.id\"]"), line: Some(4);

    // Agents and actions.
    an_unknown_agent_lists_the_known_ones("unknown_agent.yaml", UnknownAgent)
        "unknown agent \"scrapper\" (did you mean \"scraper\"? known agents: echo, fail, noop, \
         scraper, sleep)",
        step: Some("enrich"), field: Some("steps[0].agent"), line: Some(5);
    an_empty_agent_is_rejected("empty_agent.yaml", EmptyAgent)
        "agent must not be empty",
        step: Some("a"), field: Some("steps[0].agent"), line: Some(5);
    the_results_queue_is_not_an_agent("reserved_agent.yaml", ReservedAgent)
        "agent \"results\" is reserved",
        step: Some("a"), field: Some("steps[0].agent"), line: Some(5);
    the_inbox_queue_is_not_an_agent("reserved_inbox_agent.yaml", ReservedAgent)
        "agent \"inbox\" is reserved",
        step: Some("a"), field: Some("steps[0].agent"), line: Some(5);
    a_blank_action_is_rejected("empty_action.yaml", EmptyAction)
        "action must not be empty",
        step: Some("a"), field: Some("steps[0].action"), line: Some(6);

    // Templates.
    reading_a_non_ancestor_output_says_to_add_it_to_depends_on("non_ancestor.yaml", NotAnAncestor)
        "${steps.b.output.x} refers to step \"b\", which is not an ancestor of \"c\" (add it to \
depends_on)",
        step: Some("c"), field: Some("steps[2].input.lead"), line: Some(17);
    a_step_cannot_read_its_own_output("own_output.yaml", NotAnAncestor)
        "${steps.a.output} refers to this step's own output",
        step: Some("a"), field: Some("steps[0].input.again"), line: Some(7);
    a_reference_to_an_unknown_step_suggests_one("unknown_step_reference.yaml", UnknownStepReference)
        "${steps.scrap.output.leads} refers to an unknown step \"scrap\" \
         (did you mean \"scrape\"?)",
        step: Some("write"), field: Some("steps[1].input.leads[0]"), line: Some(12);
    an_undeclared_input_suggests_a_declared_one("undeclared_input.yaml", UndeclaredInput)
        "${inputs.lead} refers to an undeclared input \"lead\" (did you mean \"lead_id\"?)",
        step: Some("a"), field: Some("steps[0].input.greeting"), line: Some(10);
    a_template_with_a_bad_root_is_rejected("bad_template.yaml", InvalidTemplate)
        "expression \"${outputs.a}\" must start with \"inputs.<name>\", \"steps.<id>.output\", \"item\" or \"item_index\"",
        step: Some("a"), field: Some("steps[0].input.x"), line: Some(8);
    an_unclosed_template_is_rejected("unclosed_template.yaml", InvalidTemplate)
        "unclosed expression",
        step: Some("a"), field: Some("steps[0].input.x"), line: Some(10);

    // Fan-out and child missions.
    for_each_must_be_one_expression("for_each_not_an_expression.yaml", InvalidForEach)
        "must be one ${…} expression naming an array",
        step: Some("each"), field: Some("steps[0].for_each"), line: Some(5);
    item_is_only_for_for_each_inputs("item_outside_for_each.yaml", ItemOutsideForEach)
        "${item.email} is only available in the input of a for_each step",
        step: Some("send"), field: Some("steps[0].input.to"), line: Some(8);
    max_concurrency_must_be_positive("max_concurrency_zero.yaml", InvalidMaxConcurrency)
        "max_concurrency is 0, must be 1 to 10000",
        step: Some("each"), field: Some("steps[0].max_concurrency"), line: Some(8);
    max_concurrency_needs_for_each("max_concurrency_without_for_each.yaml", FieldNotForStepKind)
        "max_concurrency is only for for_each steps",
        step: Some("one"), field: Some("steps[0].max_concurrency"), line: Some(7);
    a_wait_cannot_fan_out("for_each_wait.yaml", InvalidForEach)
        "for_each fans out a task or a child workflow, not a wait",
        step: Some("each"), field: Some("steps[0].for_each"), line: Some(7);
    a_child_workflow_is_not_also_a_task("child_and_agent.yaml", ConflictingStepKind)
        "a step is one of: a task (agent and action), a child workflow, wait_until or wait_for",
        step: Some("both"), field: Some("steps[0]"), line: None;
    a_child_workflow_has_no_retry_of_its_own("child_with_retry.yaml", FieldNotForStepKind)
        "retry is for task steps; a child workflow's steps have their own",
        step: Some("child"), field: Some("steps[0].retry"), line: Some(6);
    an_unknown_failure_policy_lists_the_known_ones("bad_failure_policy.yaml", InvalidValue)
        "keep_going",
        step: Some("each"), field: Some("steps[0].failure_policy"), line: Some(8);
    for_each_reads_only_ancestors("for_each_non_ancestor.yaml", NotAnAncestor)
        "${steps.list.output.leads} refers to step \"list\", which is not an ancestor of \"each\"",
        step: Some("each"), field: Some("steps[1].for_each"), line: Some(6);

    // Durations and retry policies.
    a_bad_timeout_says_what_a_duration_looks_like("bad_duration.yaml", InvalidDuration)
        "\"5x\" is not a duration: unknown unit \"x\"",
        step: Some("slow"), field: Some("steps[0].timeout"), line: Some(8);
    a_bad_retry_delay_is_rejected("bad_retry_delay.yaml", InvalidDuration)
        "\"soon\" is not a duration (expected e.g. 250ms, 30s, 5m, 2h, 3d)",
        step: Some("flaky"), field: Some("steps[0].retry.initial_delay"), line: Some(8);
    a_duration_without_unit_is_rejected("duration_not_a_string.yaml", InvalidDuration)
        "\"30\" is not a duration: a number needs a unit",
        step: Some("slow"), field: Some("steps[0].timeout"), line: Some(7);
    a_zero_timeout_is_rejected("zero_timeout.yaml", ZeroTimeout)
        "timeout 0s must be longer than zero",
        step: Some("slow"), field: Some("steps[0].timeout"), line: Some(7);
    zero_max_attempts_is_rejected("max_attempts_zero.yaml", InvalidMaxAttempts)
        "max_attempts must be at least 1",
        step: Some("a"), field: Some("steps[0].retry.max_attempts"), line: Some(7);
    too_many_attempts_are_rejected("max_attempts_too_many.yaml", InvalidMaxAttempts)
        "max_attempts is 500, at most 100",
        step: Some("a"), field: Some("steps[0].retry.max_attempts"), line: Some(7);
    a_multiplier_below_one_is_rejected("multiplier_half.yaml", InvalidMultiplier)
        "multiplier must be at least 1, got 0.5",
        step: Some("a"), field: Some("steps[0].retry.multiplier"), line: Some(7);
    a_jitter_above_one_is_rejected("jitter_two.yaml", InvalidJitter)
        "jitter must be between 0 and 1, got 2",
        step: Some("a"), field: Some("steps[0].retry.jitter"), line: Some(7);
    an_initial_delay_above_the_default_max_is_rejected("delays_out_of_order.yaml", DelayOutOfOrder)
        "initial_delay 10m is longer than max_delay 5m (the default)",
        step: Some("a"), field: Some("steps[0].retry.initial_delay"), line: Some(7);
}

// Generated: too big, too deep, not text.

fn steps_yaml(n: usize) -> String {
    let mut text = String::from("name: many\nversion: 1\nsteps:\n");
    for i in 0..n {
        text.push_str(&format!("  - {{id: s{i}, agent: noop, action: noop}}\n"));
    }
    text
}

#[test]
fn ten_thousand_steps_are_too_many() {
    let text = steps_yaml(10_000);
    assert!(
        text.len() < 1024 * 1024,
        "the limit on steps, not bytes, must trip"
    );
    let err = load_bytes(text.as_bytes(), "many.yaml");
    assert_only(
        &err,
        ProblemCode::TooManySteps,
        "10000 steps, at most 1000",
        None,
        Some("steps"),
        Some(3),
    );
}

#[test]
fn a_thousand_steps_are_fine() {
    assert!(load(steps_yaml(1000).as_bytes(), None, &options()).is_ok());
}

#[test]
fn deeply_nested_yaml_is_a_clean_error() {
    let depth = 10_000;
    let text = format!(
        "name: deep\nversion: 1\nsteps:\n  - id: a\n    agent: noop\n    action: noop\n    \
         input: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = load_bytes(text.as_bytes(), "deep.yaml");
    assert_only(
        &err,
        ProblemCode::TooDeep,
        "nested too deep (at most 128 levels)",
        None,
        None,
        Some(7),
    );
}

#[test]
fn unbalanced_deep_yaml_is_a_clean_error() {
    let text = format!(
        "name: deep\nversion: 1\nsteps:\n  - id: a\n    agent: noop\n    action: noop\n    \
         input: {}",
        "[".repeat(10_000)
    );
    let err = load_bytes(text.as_bytes(), "deep.yaml");
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(
        matches!(
            err.problems[0].code,
            ProblemCode::TooDeep | ProblemCode::Syntax
        ),
        "{err}"
    );
}

#[test]
fn deeply_nested_json_is_a_clean_error() {
    let depth = 10_000;
    let text = format!(
        r#"{{"name": "deep", "version": 1, "steps": [{{"id": "a", "agent": "noop",
            "action": "noop", "input": {}{}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = load_bytes(text.as_bytes(), "deep.json");
    assert_only(
        &err,
        ProblemCode::TooDeep,
        "nested too deep (at most 128 levels)",
        None,
        None,
        Some(2),
    );
}

#[test]
fn invalid_utf8_says_at_which_byte() {
    let mut bytes = b"name: caf".to_vec();
    bytes.push(0xe9); // Latin-1 "é"
    bytes.extend_from_slice(b"\nversion: 1\nsteps: []\n");
    let err = load_bytes(&bytes, "latin1.yaml");
    assert_only(
        &err,
        ProblemCode::NotUtf8,
        "invalid byte 0xe9 at byte 9",
        None,
        Some(""),
        Some(1),
    );
    assert_eq!(err.problems[0].column, Some(10));
}

#[test]
fn a_definition_over_the_byte_limit_is_too_large() {
    let text = format!("{}\n{}", "# padding".repeat(120_000), steps_yaml(1));
    let err = load_bytes(text.as_bytes(), "big.yaml");
    assert_only(
        &err,
        ProblemCode::TooLarge,
        "bytes, at most 1048576",
        None,
        None,
        None,
    );
}

#[test]
fn an_empty_file_is_rejected() {
    for text in [&b""[..], b" \n\t\n", b"  \n# nothing here\n"] {
        let err = load_bytes(text, "empty.yaml");
        assert_only(
            &err,
            ProblemCode::EmptyDefinition,
            "definition is empty",
            None,
            None,
            None,
        );
    }
}

#[test]
fn a_duration_given_as_a_json_number_is_the_wrong_type() {
    let text = r#"{"name": "x", "version": 1, "steps": [
        {"id": "a", "agent": "noop", "action": "noop", "timeout": 30}]}"#;
    let err = load_bytes(text.as_bytes(), "x.json");
    assert_only(
        &err,
        ProblemCode::WrongType,
        "expected a duration such as \"30s\"",
        Some("a"),
        Some("steps[0].timeout"),
        Some(2),
    );
}

// Several problems at once.

#[test]
fn every_problem_of_a_definition_is_reported() {
    let err = load_fixture("many_problems.yaml");
    let found: Vec<(ProblemCode, &str)> = err
        .problems
        .iter()
        .map(|p| (p.code, p.field.as_str()))
        .collect();
    use ProblemCode::*;
    assert_eq!(
        found,
        vec![
            (InvalidName, "name"),
            (InvalidVersion, "version"),
            (DefaultTypeMismatch, "inputs.limit.default"),
            (UnknownAgent, "steps[0].agent"),
            (InvalidDuration, "steps[0].timeout"),
            (EmptyAction, "steps[1].action"),
            (UnknownDependency, "steps[1].depends_on[0]"),
            (SelfDependency, "steps[1].depends_on[1]"),
            (UndeclaredInput, "steps[1].input.lead"),
            (InvalidMaxAttempts, "steps[1].retry.max_attempts"),
            (InvalidMultiplier, "steps[1].retry.multiplier"),
            (InvalidJitter, "steps[1].retry.jitter"),
            (NotAnAncestor, "steps[1].input.text"),
            (DuplicateStepId, "steps[3].id"),
            (ReservedAgent, "steps[3].agent"),
        ],
        "{err}"
    );
    // One line per problem, each prefixed by the file and its line.
    let text = err.to_string();
    assert_eq!(text.lines().count(), err.problems.len());
    assert!(
        text.lines()
            .all(|l| l.starts_with("tests/bad/many_problems.yaml:")),
        "{text}"
    );
}

#[test]
fn a_problem_reads_as_file_line_step_field_message() {
    let err = load_fixture("unknown_dependency.yaml");
    assert_eq!(
        err.to_string(),
        "tests/bad/unknown_dependency.yaml:10: step \"enrich\": depends_on[0]: \"scrape\" is not \
         a step (did you mean \"scraper\"?)"
    );
}

#[test]
fn problems_serialize_with_stable_codes() {
    let err = load_fixture("cycle.yaml");
    let json = serde_json::to_value(&err).unwrap();
    assert_eq!(json["problems"][0]["code"], "cycle");
    assert_eq!(json["problems"][0]["step"], "a");
    assert_eq!(json["problems"][0]["field"], "steps[0].depends_on[0]");
    assert_eq!(json["file"], "tests/bad/cycle.yaml");
}

#[test]
fn every_fixture_is_rejected() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        load_fixture(&name);
        count += 1;
    }
    assert!(count >= 40, "only {count} fixtures");
}
