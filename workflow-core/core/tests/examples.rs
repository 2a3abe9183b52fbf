//! Every example in `definitions/examples/` validates against the built-in agents, and
//! its input file (if any) binds to its declared inputs.

use std::path::{Path, PathBuf};

use rex_core::{ValidateOptions, Workflow, bind_inputs, load};
use serde_json::{Value, json};

/// The agents the engine ships.
const BUILTIN_AGENTS: [&str; 4] = ["noop", "echo", "sleep", "fail"];

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../definitions/examples")
}

fn files_ending_with(suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("definitions/examples exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn load_example(path: &Path) -> Workflow {
    let bytes = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy();
    match load(
        &bytes,
        Some(&name),
        &ValidateOptions::with_known_agents(BUILTIN_AGENTS),
    ) {
        Ok((_, wf)) => wf,
        Err(e) => panic!("{} does not validate:\n{e}", path.display()),
    }
}

/// `x.yaml` → `x.input.json`.
fn input_file(definition: &Path) -> PathBuf {
    definition.with_extension("input.json")
}

#[test]
fn every_example_validates_and_binds_its_input() {
    let examples = files_ending_with(".yaml");
    assert!(
        examples.len() >= 3,
        "expected the examples, found {examples:?}"
    );
    for path in examples {
        let wf = load_example(&path);
        let input_path = input_file(&path);
        let given: Value = match std::fs::read_to_string(&input_path) {
            Ok(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", input_path.display())),
            Err(_) => json!({}),
        };
        if let Err(problems) = bind_inputs(&wf, &given) {
            panic!("{}: input does not bind: {problems:?}", path.display());
        }
    }
}

#[test]
fn every_input_file_has_its_example() {
    for input in files_ending_with(".input.json") {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".input.json", ".yaml");
        assert!(
            input.with_file_name(&name).exists(),
            "{} has no {name}",
            input.display()
        );
    }
}

#[test]
fn the_examples_have_the_shapes_their_names_promise() {
    let hello = load_example(&examples_dir().join("hello.yaml"));
    let chain: Vec<Vec<usize>> = hello.steps.iter().map(|s| s.depends_on.clone()).collect();
    assert_eq!(chain, vec![vec![], vec![0], vec![1]]);
    assert!(hello.inputs.values().any(|i| i.required));

    let diamond = load_example(&examples_dir().join("diamond.yaml"));
    let deps: Vec<Vec<usize>> = diamond.steps.iter().map(|s| s.depends_on.clone()).collect();
    assert_eq!(deps, vec![vec![], vec![0], vec![0], vec![1, 2]]);
    for sleeper in &diamond.steps[1..3] {
        let (agent, action, input) = task(sleeper);
        assert_eq!((agent, action), ("sleep", "sleep"));
        assert_eq!(input.resolve(&NoScope).unwrap(), json!({"ms": 200}));
    }

    let retry = load_example(&examples_dir().join("retry.yaml"));
    let flaky = &retry.steps[0];
    let (agent, action, input) = task(flaky);
    assert_eq!((agent, action), ("fail", "fail"));
    assert_eq!(
        input.resolve(&NoScope).unwrap(),
        json!({"pattern": "retry,retry,ok"})
    );
    assert_eq!(flaky.retry.max_attempts, 3);
}

fn task(step: &rex_core::Step) -> (&str, &str, &rex_core::Template) {
    match &step.kind {
        rex_core::StepKind::Task {
            agent,
            action,
            input,
        } => (agent, action, input),
        other => panic!("{}: a task step expected, got {other:?}", step.id),
    }
}

struct NoScope;

impl rex_core::Scope for NoScope {
    fn input(&self, _: &str) -> Option<&Value> {
        None
    }
    fn step_output(&self, _: &str) -> Option<&Value> {
        None
    }
}
