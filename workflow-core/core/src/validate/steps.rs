//! Checks of one step's fields, and its compilation into a [`Step`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;

use super::fan_out::{check_fan_out_fields, check_for_each};
use super::graph::Graph;
use super::{At, Ctx, NAME_RULE, field_path, suggest};
use crate::condition::{Condition, Reference};
use crate::definition::{RawDuration, RawFailurePolicy, RawRetry, RawStep, is_valid_name};
use crate::duration::{format_duration, parse_duration};
use crate::error::ProblemCode;
use crate::template::{Expr, Template};
use crate::window::{RawWindow, Window};
use crate::workflow::{
    DEFAULT_MAX_CONCURRENCY, FailurePolicy, FanOut, InputSpec, ItemBody, MAX_CONCURRENCY,
    RetryPolicy, Step, StepKind, StepWindow,
};

/// The agent name the engine keeps for its own queue of step results.
pub const RESERVED_AGENT: &str = "results";
/// Names no agent may take: the engine's own queues (step results, provider events),
/// which share the agents' namespace of outbox destinations and dead letters.
pub const RESERVED_AGENTS: [&str; 2] = [RESERVED_AGENT, "inbox"];

/// Most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 100;

/// What checking one step yields for the whole-graph checks that follow.
pub(crate) struct Checked {
    /// Resolved dependencies: known, not itself, no duplicates, in written order.
    pub(crate) deps: Vec<usize>,
    /// `${steps.x.output…}` references to known steps, checked once the graph is known.
    pub(crate) refs: Vec<StepRef>,
    /// The compiled step, when every field of it is valid.
    pub(crate) step: Option<Step>,
}

pub(crate) struct StepRef {
    /// Relative to the step: `input.lead`.
    field: String,
    /// The string that holds the expression, to find its line.
    text: String,
    expr: String,
    target: usize,
}

pub(crate) fn check_step(
    cx: &mut Ctx<'_>,
    i: usize,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
) -> Checked {
    let definition = cx.raw;
    let raw: &RawStep = &definition.steps[i];
    // Checked in the order the fields are usually written: agent, action, depends_on,
    // input, retry, timeout.
    let head = check_kind_head(cx, i, raw);
    let deps = check_depends_on(cx, i, &raw.depends_on, index);
    let delay = match &raw.delay {
        Some(d) => check_duration(cx, i, "delay", d).map(Some),
        None => Some(None),
    };
    let (kind, mut refs) = match head {
        Some(head) => check_kind_body(cx, i, raw, head, index, inputs),
        None => (None, Vec::new()),
    };
    let window = match &raw.window {
        Some(w) => check_window(cx, i, raw, w, index, inputs, &mut refs),
        None => Some(None),
    };
    let when = match &raw.when {
        Some(expr) => check_when(cx, i, expr, index, inputs, &mut refs),
        None => Some(None),
    };
    let retry = check_retry(cx, i, raw.retry.as_ref());
    let timeout = check_timeout(cx, i, raw.timeout.as_ref());

    let step = match (kind, retry, timeout, delay, window, when) {
        (Some(kind), Some(retry), Some(timeout), Some(delay), Some(window), Some(when)) => {
            let mut depends_on = deps.clone();
            depends_on.sort_unstable();
            Some(Step {
                id: raw.id.clone(),
                kind,
                depends_on,
                retry,
                timeout,
                delay,
                window,
                when,
            })
        }
        _ => None,
    };
    Checked { deps, refs, step }
}

/// Which kind a step is, and for a task its checked agent and action.
enum KindHead {
    Task(Option<(String, String)>),
    /// A child mission (`workflow`), with the name if it is valid.
    Child(Option<String>),
    WaitUntil,
    WaitFor,
}

/// A step is exactly one of: a task (`agent` + `action`), a child `workflow`, a
/// `wait_until`, a `wait_for`; a task or a child may fan out (`for_each`).
fn check_kind_head(cx: &mut Ctx<'_>, i: usize, raw: &RawStep) -> Option<KindHead> {
    let is_task = raw.agent.is_some() || raw.action.is_some();
    let is_wait = raw.wait_until.is_some() || raw.wait_for.is_some();
    let kinds = [
        is_task,
        raw.workflow.is_some(),
        raw.wait_until.is_some(),
        raw.wait_for.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        let message =
            "a step is one of: a task (agent and action), a child workflow, wait_until or wait_for";
        cx.report_step(i, ProblemCode::ConflictingStepKind, "", At::Step, message);
        return None;
    }
    check_fan_out_fields(cx, i, raw, is_wait);
    if raw.wait_until.is_some() {
        return Some(KindHead::WaitUntil);
    }
    if raw.wait_for.is_some() {
        return Some(KindHead::WaitFor);
    }
    if let Some(name) = &raw.workflow {
        if is_valid_name(name) {
            return Some(KindHead::Child(Some(name.clone())));
        }
        let message = format!("workflow {name:?} must be {NAME_RULE}");
        let code = ProblemCode::InvalidChildWorkflow;
        cx.report_step(i, code, "workflow", At::Key("workflow"), message);
        return Some(KindHead::Child(None));
    }
    let agent = match &raw.agent {
        Some(agent) => {
            check_agent(cx, i, agent);
            Some(agent.clone())
        }
        None => {
            let message = "missing field \"agent\"";
            cx.report_step(i, ProblemCode::MissingField, "agent", At::Step, message);
            None
        }
    };
    let action = match &raw.action {
        Some(action) if action.trim().is_empty() => {
            let message = "action must not be empty";
            cx.report_step(
                i,
                ProblemCode::EmptyAction,
                "action",
                At::Key("action"),
                message,
            );
            None
        }
        Some(action) => Some(action.clone()),
        None => {
            let message = "missing field \"action\"";
            cx.report_step(
                i,
                ProblemCode::MissingField,
                "action",
                At::Key("action"),
                message,
            );
            None
        }
    };
    Some(KindHead::Task(agent.zip(action)))
}

fn check_kind_body(
    cx: &mut Ctx<'_>,
    i: usize,
    raw: &RawStep,
    head: KindHead,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
) -> (Option<StepKind>, Vec<StepRef>) {
    let not_for_waits = |cx: &mut Ctx<'_>, what: &str| {
        for (present, field) in [
            (raw.input.is_some(), "input"),
            (raw.retry.is_some(), "retry"),
            (raw.timeout.is_some(), "timeout"),
        ] {
            if present {
                let message = format!("{field} is only for task steps, not {what}");
                let code = ProblemCode::FieldNotForStepKind;
                cx.report_step(i, code, field, At::Key(field), message);
            }
        }
    };
    match head {
        KindHead::WaitUntil => {
            not_for_waits(cx, "wait_until");
            let text = raw.wait_until.as_deref().unwrap_or_default();
            check_wait_until(cx, i, text, index, inputs)
        }
        KindHead::WaitFor => {
            not_for_waits(cx, "wait_for");
            let Some(wait) = &raw.wait_for else {
                return (None, Vec::new());
            };
            let name_ok = check_signal_name(cx, i, "wait_for.signal", &wait.signal);
            let timeout = match &wait.timeout {
                Some(d) => check_duration(cx, i, "wait_for.timeout", d).map(Some),
                None => Some(None),
            };
            let kind = match (name_ok, timeout) {
                (true, Some(timeout)) => Some(StepKind::WaitFor {
                    signal: wait.signal.clone(),
                    timeout,
                }),
                _ => None,
            };
            (kind, Vec::new())
        }
        KindHead::Task(head) if raw.for_each.is_none() => {
            let (input, refs) =
                check_input(cx, i, "input", raw.input.as_ref(), index, inputs, false);
            let kind = match (head, input) {
                (Some((agent, action)), Some(input)) => Some(StepKind::Task {
                    agent,
                    action,
                    input,
                }),
                _ => None,
            };
            (kind, refs)
        }
        KindHead::Task(_) | KindHead::Child(_) => {
            let fan = raw.for_each.is_some();
            let (input, mut refs) =
                check_input(cx, i, "input", raw.input.as_ref(), index, inputs, fan);
            let items = match &raw.for_each {
                Some(text) => check_for_each(cx, i, text, index, inputs, &mut refs).map(Some),
                None => Some(None),
            };
            let body = match (head, input) {
                (KindHead::Task(Some((agent, action))), Some(input)) => Some(ItemBody::Task {
                    agent,
                    action,
                    input,
                }),
                (KindHead::Child(Some(name)), Some(input)) => Some(ItemBody::Workflow {
                    name,
                    version: raw.workflow_version,
                    input,
                }),
                _ => None,
            };
            let policy = match raw.failure_policy {
                Some(RawFailurePolicy::Continue) => FailurePolicy::Continue,
                Some(RawFailurePolicy::FailFast) | None => FailurePolicy::FailFast,
            };
            let max_concurrency = raw.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
            let kind = match (items, body) {
                (Some(items), Some(body)) if (1..=MAX_CONCURRENCY).contains(&max_concurrency) => {
                    Some(StepKind::FanOut(FanOut {
                        items,
                        max_concurrency,
                        policy,
                        body,
                    }))
                }
                _ => None,
            };
            (kind, refs)
        }
    }
}

/// A send window: fixed zone compiled now, a templated zone checked for what it reads.
fn check_window(
    cx: &mut Ctx<'_>,
    i: usize,
    raw: &RawStep,
    w: &RawWindow,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
    refs: &mut Vec<StepRef>,
) -> Option<Option<StepWindow>> {
    let report = |cx: &mut Ctx<'_>, field: &str, message: String| {
        let field = format!("window.{field}");
        cx.report_step(
            i,
            ProblemCode::InvalidWindow,
            &field,
            At::Key("window"),
            message,
        );
    };
    if raw.agent.is_none() || raw.for_each.is_some() {
        report(
            cx,
            "",
            "a window applies to task steps (agent and action) that do not fan out".into(),
        );
        return None;
    }
    if !w.timezone.contains("${") {
        return match Window::compile(w, &w.timezone) {
            Ok(window) => Some(Some(StepWindow::Fixed(window))),
            Err(e) => {
                report(cx, e.field(), e.to_string());
                None
            }
        };
    }
    if let Err(e) = w.check() {
        report(cx, e.field(), e.to_string());
        return None;
    }
    let value = Value::String(w.timezone.clone());
    let (template, zone_refs) =
        check_input(cx, i, "window.timezone", Some(&value), index, inputs, false);
    refs.extend(zone_refs);
    template.map(|timezone| {
        Some(StepWindow::ZoneFrom {
            raw: w.clone(),
            timezone,
        })
    })
}

/// A `when` condition: parses, and reads only declared inputs and ancestors' outputs.
fn check_when(
    cx: &mut Ctx<'_>,
    i: usize,
    expr: &str,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
    refs: &mut Vec<StepRef>,
) -> Option<Option<Condition>> {
    let report = |cx: &mut Ctx<'_>, message: String| {
        cx.report_step(
            i,
            ProblemCode::InvalidCondition,
            "when",
            At::Key("when"),
            message,
        );
    };
    let condition = match Condition::parse(expr) {
        Ok(c) => c,
        Err(e) => {
            report(cx, e.to_string());
            return None;
        }
    };
    let mut ok = true;
    for reference in condition.references() {
        match reference {
            Reference::Input(name) if !inputs.contains_key(&name) => {
                ok = false;
                report(cx, format!("inputs.{name} is not a declared input"));
            }
            Reference::Step(step) => match index.get(step.as_str()) {
                Some(&target) => refs.push(StepRef {
                    field: "when".to_owned(),
                    text: expr.to_owned(),
                    expr: format!("steps.{step}"),
                    target,
                }),
                None => {
                    ok = false;
                    let hint = suggest::did_you_mean(&step, index.keys().copied());
                    report(cx, format!("steps.{step}: not a step{hint}"));
                }
            },
            _ => {}
        }
    }
    ok.then_some(Some(condition))
}

/// Signal names: letters, digits, `.`, `_`, `-`, at most 128 (`lead.replied`).
pub(crate) fn is_valid_signal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_signal_name(cx: &mut Ctx<'_>, i: usize, field: &str, name: &str) -> bool {
    if is_valid_signal_name(name) {
        return true;
    }
    let message =
        format!("signal name {name:?} must be 1 to 128 letters, digits, \".\", \"_\" or \"-\"");
    cx.report_step(
        i,
        ProblemCode::InvalidSignalName,
        field,
        At::Key("signal"),
        message,
    );
    false
}

/// `wait_until`: an RFC 3339 time, or one `${…}` expression resolved at the wait.
fn check_wait_until(
    cx: &mut Ctx<'_>,
    i: usize,
    text: &str,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
) -> (Option<StepKind>, Vec<StepRef>) {
    let value = Value::String(text.to_owned());
    let (template, refs) = check_input(cx, i, "wait_until", Some(&value), index, inputs, false);
    let Some(template) = template else {
        return (None, refs);
    };
    let ok = match &template {
        Template::Expr(_) => true,
        Template::Literal(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        _ => false,
    };
    if !ok {
        let message = format!(
            "wait_until {text:?} must be an RFC 3339 time (2026-12-01T09:00:00Z) or one ${{…}} expression"
        );
        cx.report_step(
            i,
            ProblemCode::InvalidWaitUntil,
            "wait_until",
            At::Key("wait_until"),
            message,
        );
        return (None, refs);
    }
    (Some(StepKind::WaitUntil { at: template }), refs)
}

fn check_agent(cx: &mut Ctx<'_>, i: usize, agent: &str) {
    let report = |cx: &mut Ctx<'_>, code, message: String| {
        cx.report_step(i, code, "agent", At::Key("agent"), message);
    };
    if agent.is_empty() {
        report(
            cx,
            ProblemCode::EmptyAgent,
            "agent must not be empty".to_owned(),
        );
    } else if RESERVED_AGENTS.contains(&agent) {
        let message = format!("agent {agent:?} is reserved for one of the engine's own queues");
        report(cx, ProblemCode::ReservedAgent, message);
    } else if !is_valid_name(agent) {
        report(
            cx,
            ProblemCode::InvalidAgent,
            format!("agent {agent:?} must be {NAME_RULE}"),
        );
    } else if let Some(known) = &cx.opts.known_agents
        && !known.iter().any(|k| k == agent)
    {
        let mut sorted: Vec<&str> = known.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let message = if sorted.is_empty() {
            format!("unknown agent {agent:?} (no agents are known)")
        } else {
            let hint = match suggest::closest(agent, sorted.iter().copied()) {
                Some(c) => format!("did you mean {c:?}? "),
                None => String::new(),
            };
            format!(
                "unknown agent {agent:?} ({hint}known agents: {})",
                suggest::list(sorted.iter().copied(), 12)
            )
        };
        report(cx, ProblemCode::UnknownAgent, message);
    }
}

fn check_depends_on(
    cx: &mut Ctx<'_>,
    i: usize,
    depends_on: &[String],
    index: &HashMap<&str, usize>,
) -> Vec<usize> {
    let mut deps = Vec::with_capacity(depends_on.len());
    for (k, name) in depends_on.iter().enumerate() {
        let field = format!("depends_on[{k}]");
        let at = At::Key("depends_on");
        match index.get(name.as_str()) {
            None => {
                let hint = suggest::did_you_mean(name, index.keys().copied());
                let message = format!("{name:?} is not a step{hint}");
                cx.report_step(i, ProblemCode::UnknownDependency, &field, at, message);
            }
            Some(&j) if j == i => {
                let message = "a step cannot depend on itself";
                cx.report_step(i, ProblemCode::SelfDependency, &field, at, message);
            }
            Some(&j) if deps.contains(&j) => {
                let message = format!("{name:?} is listed twice");
                cx.report_step(i, ProblemCode::DuplicateDependency, &field, at, message);
            }
            Some(&j) => deps.push(j),
        }
    }
    deps
}

/// Parses every string of the input as a template, checking what each expression names.
/// `${item…}` is allowed only where `items` says (the input of a `for_each` step).
pub(super) fn check_input(
    cx: &mut Ctx<'_>,
    i: usize,
    root: &str,
    input: Option<&Value>,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
    items: bool,
) -> (Option<Template>, Vec<StepRef>) {
    let empty = Value::Object(Default::default());
    let input = input.unwrap_or(&empty);
    let mut strings = Vec::new();
    collect_strings(input, root, &mut strings);

    let mut refs = Vec::new();
    let mut ok = true;
    for (field, text) in strings {
        let at = At::Text(text);
        let template = match Template::parse(&Value::String(text.to_owned())) {
            Ok(t) => t,
            Err(e) => {
                ok = false;
                cx.report_step(i, ProblemCode::InvalidTemplate, &field, at, e.to_string());
                continue;
            }
        };
        for expr in template.exprs() {
            match expr {
                Expr::Input { name, .. } if !inputs.contains_key(name) => {
                    ok = false;
                    let declared = inputs.keys().map(String::as_str);
                    let hint = if inputs.is_empty() {
                        " (the workflow declares no inputs)".to_owned()
                    } else if let Some(c) = suggest::closest(name, declared.clone()) {
                        format!(" (did you mean {c:?}?)")
                    } else {
                        format!(" (declared: {})", suggest::list(declared, 12))
                    };
                    let message = format!("{expr} refers to an undeclared input {name:?}{hint}");
                    cx.report_step(i, ProblemCode::UndeclaredInput, &field, at, message);
                }
                Expr::Input { .. } => {}
                Expr::Item { .. } | Expr::ItemIndex if items => {}
                Expr::Item { .. } | Expr::ItemIndex => {
                    ok = false;
                    let message =
                        format!("{expr} is only available in the input of a for_each step");
                    cx.report_step(i, ProblemCode::ItemOutsideForEach, &field, at, message);
                }
                Expr::StepOutput { step, .. } => match index.get(step.as_str()) {
                    Some(&target) => refs.push(StepRef {
                        field: field.clone(),
                        text: text.to_owned(),
                        expr: expr.to_string(),
                        target,
                    }),
                    None => {
                        ok = false;
                        let hint = suggest::did_you_mean(step, index.keys().copied());
                        let message = format!("{expr} refers to an unknown step {step:?}{hint}");
                        let code = ProblemCode::UnknownStepReference;
                        cx.report_step(i, code, &field, at, message);
                    }
                },
            }
        }
    }
    let template = if ok {
        Template::parse(input).ok()
    } else {
        None
    };
    (template, refs)
}

/// Every string in `value` with its path (`input.lead`, `input.list[0]`,
/// `input["a b"]`), in document order.
fn collect_strings<'v>(value: &'v Value, path: &str, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s)),
        Value::Array(items) => {
            for (k, item) in items.iter().enumerate() {
                collect_strings(item, &format!("{path}[{k}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_strings(item, &field_path(path, key), out);
            }
        }
        _ => {}
    }
}

/// A step may read only the outputs of its ancestors: those are finished when it runs.
pub(crate) fn check_references(cx: &mut Ctx<'_>, i: usize, refs: &[StepRef], graph: &Graph) {
    if refs.is_empty() {
        return;
    }
    let ancestors = graph.ancestors(i);
    for r in refs {
        let target = &cx.raw.steps[r.target].id;
        let message = if r.target == i {
            format!("{} refers to this step's own output", r.expr)
        } else if !ancestors[r.target] {
            let me = &cx.raw.steps[i].id;
            format!(
                "{} refers to step {target:?}, which is not an ancestor of {me:?} \
                 (add it to depends_on)",
                r.expr
            )
        } else {
            continue;
        };
        let at = At::Text(&r.text);
        cx.report_step(i, ProblemCode::NotAnAncestor, &r.field, at, message);
    }
}

fn check_duration(cx: &mut Ctx<'_>, i: usize, field: &str, d: &RawDuration) -> Option<Duration> {
    let key = field.rsplit('.').next().unwrap_or(field);
    match parse_duration(d.as_str()) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.report_step(
                i,
                ProblemCode::InvalidDuration,
                field,
                At::Key(key),
                e.to_string(),
            );
            None
        }
    }
}

fn check_timeout(
    cx: &mut Ctx<'_>,
    i: usize,
    timeout: Option<&RawDuration>,
) -> Option<Option<Duration>> {
    let Some(raw) = timeout else {
        return Some(None);
    };
    let d = check_duration(cx, i, "timeout", raw)?;
    if d.is_zero() {
        let message = format!("timeout {raw} must be longer than zero");
        cx.report_step(
            i,
            ProblemCode::ZeroTimeout,
            "timeout",
            At::Key("timeout"),
            message,
        );
        return None;
    }
    Some(Some(d))
}

fn check_retry(cx: &mut Ctx<'_>, i: usize, retry: Option<&RawRetry>) -> Option<RetryPolicy> {
    let default = RetryPolicy::default();
    let Some(r) = retry else {
        return Some(default);
    };
    let mut ok = true;
    let mut report = |cx: &mut Ctx<'_>, code, key: &str, message: String| {
        ok = false;
        let field = format!("retry.{key}");
        cx.report_step(i, code, &field, At::Key(key), message);
    };

    let max_attempts = r.max_attempts.unwrap_or(default.max_attempts);
    if max_attempts == 0 {
        let message = "max_attempts must be at least 1 (1 means no retry)".to_owned();
        report(cx, ProblemCode::InvalidMaxAttempts, "max_attempts", message);
    } else if max_attempts > MAX_ATTEMPTS {
        let message = format!("max_attempts is {max_attempts}, at most {MAX_ATTEMPTS}");
        report(cx, ProblemCode::InvalidMaxAttempts, "max_attempts", message);
    }
    let multiplier = r.multiplier.unwrap_or(default.multiplier);
    if !(multiplier.is_finite() && multiplier >= 1.0) {
        let message = format!("multiplier must be at least 1, got {multiplier}");
        report(cx, ProblemCode::InvalidMultiplier, "multiplier", message);
    }
    let jitter = r.jitter.unwrap_or(default.jitter);
    if !(0.0..=1.0).contains(&jitter) {
        let message = format!("jitter must be between 0 and 1, got {jitter}");
        report(cx, ProblemCode::InvalidJitter, "jitter", message);
    }

    let initial_delay = match &r.initial_delay {
        Some(d) => check_duration(cx, i, "retry.initial_delay", d),
        None => Some(default.initial_delay),
    };
    let max_delay = match &r.max_delay {
        Some(d) => check_duration(cx, i, "retry.max_delay", d),
        None => Some(default.max_delay),
    };
    let (Some(initial_delay), Some(max_delay)) = (initial_delay, max_delay) else {
        return None;
    };
    if initial_delay > max_delay {
        let whose = if r.max_delay.is_none() {
            " (the default)"
        } else {
            ""
        };
        let message = format!(
            "initial_delay {} is longer than max_delay {}{whose}",
            format_duration(initial_delay),
            format_duration(max_delay)
        );
        report(cx, ProblemCode::DelayOutOfOrder, "initial_delay", message);
    }
    ok.then_some(RetryPolicy {
        max_attempts,
        initial_delay,
        multiplier,
        max_delay,
        jitter,
    })
}
