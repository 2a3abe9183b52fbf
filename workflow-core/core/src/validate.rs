//! Validation: from a definition's text (or its raw model) to a compiled [`Workflow`], or
//! to every [`Problem`] found.
//!
//! Parsing stops at the first syntax or shape error (there is no document to look at
//! after that). Everything after parsing is collected: names, versions, inputs, each
//! step's agent, action, dependencies, templates, retry policy and timeout, then the
//! graph (cycles, and that `${steps.x.output}` only reads ancestors). A definition is
//! accepted only when the list is empty.
//!
//! Decisions worth knowing:
//! - an input that is `required` and has a `default` is an error, not a warning: the
//!   default could never be used, so one of the two is a mistake;
//! - the engine's own result queue name, `results`, can never be an agent;
//! - more than `max_steps` steps is reported alone, without checking each step, so a
//!   hostile definition costs little.

mod fan_out;
mod graph;
mod read;
mod source;
mod steps;
pub(crate) mod suggest;

use std::collections::{BTreeMap, HashMap};

use crate::definition::{RawDefinition, is_valid_input_name, is_valid_name};
use crate::error::{Problem, ProblemCode, ValidationError};
use crate::inputs::{describe_value, type_name, value_has_type};
use crate::template::{Expr, Template};
use crate::workflow::{InputSpec, SignalAction, Workflow};

use graph::Graph;
use read::Format;
use source::SourceMap;

pub use steps::{MAX_ATTEMPTS, RESERVED_AGENT, RESERVED_AGENTS};

/// What a name must look like, in words, for messages.
pub(crate) const NAME_RULE: &str =
    "a lowercase letter followed by up to 63 lowercase letters, digits, \"_\" or \"-\"";

/// `parent.key`, or `parent["odd key"]` when the key is not a plain word.
pub(crate) fn field_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{key:?}]")
    }
}

/// Limits and context for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// The agents a step may name. `None` accepts any agent name (e.g. when validating a
    /// file offline); the API passes the agents it has workers for.
    pub known_agents: Option<Vec<String>>,
    /// Most steps a definition may have. Default 1000.
    pub max_steps: usize,
    /// Largest definition text accepted, in bytes. Default 1 MiB.
    pub max_bytes: usize,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            known_agents: None,
            max_steps: 1000,
            max_bytes: 1024 * 1024,
        }
    }
}

impl ValidateOptions {
    /// Default limits, accepting only the given agents.
    pub fn with_known_agents<I, S>(agents: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            known_agents: Some(agents.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }
}

/// Reads a definition from bytes (YAML or JSON; by `file`'s extension when it has one,
/// else JSON when the text starts with `{`) and validates it.
///
/// `file` only names the source in messages and picks the format; nothing is read from
/// disk. Returns the raw definition too: the store saves its [`crate::canonical_json`].
pub fn load(
    bytes: &[u8],
    file: Option<&str>,
    opts: &ValidateOptions,
) -> Result<(RawDefinition, Workflow), ValidationError> {
    let fail = |p: Problem| ValidationError::new(file, vec![p]);
    let text = read::decode(bytes, opts.max_bytes).map_err(fail)?;
    let format = Format::detect(file, text);
    let raw = read::parse(text, format).map_err(fail)?;
    let source = SourceMap::new(
        text,
        format == Format::Json,
        raw.steps.iter().map(|s| s.id.as_str()),
    );
    let workflow = check(&raw, Some(&source), opts).map_err(|p| ValidationError::new(file, p))?;
    Ok((raw, workflow))
}

/// Validates a raw definition. Problems carry no line numbers (there is no text); use
/// [`load`] when you have one.
pub fn validate(
    raw: &RawDefinition,
    file: Option<&str>,
    opts: &ValidateOptions,
) -> Result<Workflow, ValidationError> {
    check(raw, None, opts).map_err(|p| ValidationError::new(file, p))
}

/// Where a step problem is in the text, for its line number.
#[derive(Clone, Copy)]
pub(crate) enum At<'k> {
    /// The step's `id` line.
    Step,
    /// The first line of the step with this key.
    Key(&'k str),
    /// The first line of the step containing this text.
    Text(&'k str),
}

/// The state of one validation: the definition, and the problems found so far.
pub(crate) struct Ctx<'a> {
    raw: &'a RawDefinition,
    opts: &'a ValidateOptions,
    source: Option<&'a SourceMap<'a>>,
    problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    fn report_top(&mut self, code: ProblemCode, field: &str, message: impl Into<String>) {
        let key = field.split(['.', '[']).next().unwrap_or(field);
        let line = self.source.and_then(|s| s.top_line(key));
        self.problems
            .push(Problem::new(code, field, message).at(line, None));
    }

    fn report_input(&mut self, code: ProblemCode, name: &str, field: &str, msg: String) {
        let line = self.source.and_then(|s| s.input_line(name));
        self.problems
            .push(Problem::new(code, field, msg).at(line, None));
    }

    /// Reports a problem of step `i`; `field` is relative to the step (`depends_on[0]`),
    /// empty for the step as a whole.
    pub(crate) fn report_step(
        &mut self,
        i: usize,
        code: ProblemCode,
        field: &str,
        at: At<'_>,
        message: impl Into<String>,
    ) {
        let path = if field.is_empty() {
            format!("steps[{i}]")
        } else {
            format!("steps[{i}].{field}")
        };
        let mut problem = Problem::new(code, path, message);
        let id = &self.raw.steps[i].id;
        if !id.is_empty() {
            problem = problem.in_step(id.as_str());
        }
        let line = self.source.and_then(|s| match at {
            At::Step => s.step_line(i),
            At::Key(key) => s.step_field_line(i, key),
            At::Text(text) => s.step_text_line(i, text),
        });
        self.problems.push(problem.at(line, None));
    }
}

fn check(
    raw: &RawDefinition,
    source: Option<&SourceMap<'_>>,
    opts: &ValidateOptions,
) -> Result<Workflow, Vec<Problem>> {
    let mut cx = Ctx {
        raw,
        opts,
        source,
        problems: Vec::new(),
    };
    check_header(&mut cx);
    let inputs = check_inputs(&mut cx);

    let n = raw.steps.len();
    if n == 0 {
        cx.report_top(
            ProblemCode::NoSteps,
            "steps",
            "a workflow needs at least one step",
        );
        return Err(cx.problems);
    }
    if n > opts.max_steps {
        let message = format!("{n} steps, at most {}", opts.max_steps);
        cx.report_top(ProblemCode::TooManySteps, "steps", message);
        return Err(cx.problems);
    }

    let index = index_steps(&mut cx);
    let checked: Vec<steps::Checked> = (0..n)
        .map(|i| steps::check_step(&mut cx, i, &index, &inputs))
        .collect();

    let graph = Graph::new(checked.iter().map(|c| c.deps.clone()).collect());
    for cycle in graph.cycles() {
        report_cycle(&mut cx, &cycle);
    }
    for (i, c) in checked.iter().enumerate() {
        steps::check_references(&mut cx, i, &c.refs, &graph);
    }

    if !cx.problems.is_empty() {
        // Whole-definition problems first, then step by step; check order within each.
        cx.problems.sort_by_key(|p| step_of_field(&p.field));
        return Err(cx.problems);
    }
    let steps = checked
        .into_iter()
        .map(|c| c.step)
        .collect::<Option<Vec<_>>>()
        // Every step compiles when no problem was reported.
        .ok_or_else(|| {
            vec![internal(
                "a step failed to compile without a reported problem",
            )]
        })?;
    let on_signal = check_on_signal(&mut cx, &index);
    let correlation_keys = check_correlation_keys(&mut cx, &inputs);
    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    Ok(Workflow {
        name: raw.name.clone(),
        version: raw.version,
        description: raw.description.clone(),
        inputs,
        steps,
        on_signal,
        correlation_keys,
    })
}

/// `on_signal: {lead.replied: cancel, lead.bounced: fail, meeting.booked: skip_to thank}`.
fn check_on_signal(
    cx: &mut Ctx<'_>,
    index: &HashMap<&str, usize>,
) -> BTreeMap<String, SignalAction> {
    let mut actions = BTreeMap::new();
    for (name, action) in &cx.raw.on_signal {
        let field = field_path("on_signal", name);
        if !steps::is_valid_signal_name(name) {
            let message = format!(
                "signal name {name:?} must be 1 to 128 letters, digits, \".\", \"_\" or \"-\""
            );
            cx.report_top(ProblemCode::InvalidSignalName, &field, message);
            continue;
        }
        let words: Vec<&str> = action.split_whitespace().collect();
        let parsed = match words.as_slice() {
            ["cancel"] => Ok(SignalAction::Cancel),
            ["fail"] => Ok(SignalAction::Fail),
            ["skip_to", step] => match index.get(step) {
                Some(&i) => Ok(SignalAction::SkipTo(i)),
                None => {
                    let hint = suggest::did_you_mean(step, index.keys().copied());
                    Err(format!("skip_to {step:?}: not a step{hint}"))
                }
            },
            _ => Err(format!(
                "{action:?} is not an action (expected cancel, fail or skip_to <step>)"
            )),
        };
        match parsed {
            Ok(a) => {
                actions.insert(name.clone(), a);
            }
            Err(message) => cx.report_top(ProblemCode::InvalidSignalAction, &field, message),
        }
    }
    actions
}

/// Correlation keys may read inputs only: they are resolved when the mission starts.
fn check_correlation_keys(cx: &mut Ctx<'_>, inputs: &BTreeMap<String, InputSpec>) -> Vec<Template> {
    let mut keys = Vec::new();
    for (k, text) in cx.raw.correlation_keys.iter().enumerate() {
        let field = format!("correlation_keys[{k}]");
        let problem = match Template::parse(&serde_json::Value::String(text.clone())) {
            _ if text.trim().is_empty() => Some("a correlation key must not be empty".to_owned()),
            Err(e) => Some(e.to_string()),
            Ok(t) => {
                let bad = t.exprs().into_iter().find_map(|e| match e {
                    Expr::StepOutput { .. } | Expr::Item { .. } | Expr::ItemIndex => {
                        Some(format!("{e}: correlation keys may only read inputs"))
                    }
                    Expr::Input { name, .. } if !inputs.contains_key(name) => {
                        Some(format!("{e} refers to an undeclared input {name:?}"))
                    }
                    Expr::Input { .. } => None,
                });
                if bad.is_none() {
                    keys.push(t);
                }
                bad
            }
        };
        if let Some(message) = problem {
            cx.report_top(ProblemCode::InvalidCorrelationKey, &field, message);
        }
    }
    keys
}

/// 0 for a top-level field, 1 + N for `steps[N]…`.
fn step_of_field(field: &str) -> usize {
    field
        .strip_prefix("steps[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok())
        .map_or(0, |n| n + 1)
}

fn internal(message: &str) -> Problem {
    Problem::new(ProblemCode::InvalidValue, "", message)
}

fn check_header(cx: &mut Ctx<'_>) {
    let name = &cx.raw.name;
    if name.is_empty() {
        cx.report_top(ProblemCode::EmptyName, "name", "name must not be empty");
    } else if !is_valid_name(name) {
        let message = format!("name {name:?} must be {NAME_RULE}");
        cx.report_top(ProblemCode::InvalidName, "name", message);
    }
    if cx.raw.version == 0 {
        cx.report_top(
            ProblemCode::InvalidVersion,
            "version",
            "version must be at least 1",
        );
    }
}

fn check_inputs(cx: &mut Ctx<'_>) -> BTreeMap<String, InputSpec> {
    let mut specs = BTreeMap::new();
    for (name, raw) in &cx.raw.inputs {
        let field = field_path("inputs", name);
        if !is_valid_input_name(name) {
            let message = format!(
                "input name {name:?} must be up to 64 letters, digits, \"_\" or \"-\", \
                 starting with a letter or \"_\""
            );
            cx.report_input(ProblemCode::InvalidInputName, name, &field, message);
        }
        let spec = InputSpec {
            kind: raw.kind.into(),
            required: raw.required,
            default: raw.default.clone(),
            description: raw.description.clone(),
        };
        if let Some(default) = &spec.default {
            let field = format!("{field}.default");
            if spec.required {
                let message = "a required input cannot have a default (drop \"required\" or \
                               the default)"
                    .to_owned();
                cx.report_input(ProblemCode::RequiredWithDefault, name, &field, message);
            }
            if !value_has_type(spec.kind, default) {
                let message = format!(
                    "default {} is not {}",
                    describe_value(default),
                    type_name(spec.kind)
                );
                cx.report_input(ProblemCode::DefaultTypeMismatch, name, &field, message);
            }
        }
        specs.insert(name.clone(), spec);
    }
    specs
}

/// Checks ids; returns each id's first step.
fn index_steps<'a>(cx: &mut Ctx<'a>) -> HashMap<&'a str, usize> {
    let raw = cx.raw;
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(raw.steps.len());
    for (i, step) in raw.steps.iter().enumerate() {
        let id = step.id.as_str();
        if id.is_empty() {
            let message = "step id must not be empty";
            cx.report_step(i, ProblemCode::InvalidStepId, "id", At::Step, message);
        } else if !is_valid_name(id) {
            let message = format!("step id {id:?} must be {NAME_RULE}");
            cx.report_step(i, ProblemCode::InvalidStepId, "id", At::Step, message);
        }
        match index.get(id) {
            Some(&first) => {
                let message = format!("duplicate step id {id:?} (also steps[{first}])");
                cx.report_step(i, ProblemCode::DuplicateStepId, "id", At::Step, message);
            }
            None => {
                index.insert(id, i);
            }
        }
    }
    index
}

/// `cycle in depends_on: a -> b -> c -> a`, on the first step's edge to the second.
fn report_cycle(cx: &mut Ctx<'_>, cycle: &[usize]) {
    let steps = &cx.raw.steps;
    let first = cycle[0];
    let next = &steps[cycle.get(1).copied().unwrap_or(first)].id;
    let edge = steps[first]
        .depends_on
        .iter()
        .position(|d| d == next)
        .unwrap_or(0);
    let mut path: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
    path.push(&steps[first].id);
    let message = format!(
        "cycle in depends_on: {} (each step depends on the next)",
        path.join(" -> ")
    );
    let field = format!("depends_on[{edge}]");
    cx.report_step(
        first,
        ProblemCode::Cycle,
        &field,
        At::Key("depends_on"),
        message,
    );
}

#[cfg(test)]
mod tests;
