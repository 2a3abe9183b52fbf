//! Checks of fan-out (`for_each`) and child-workflow steps.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::steps::{StepRef, check_input};
use super::{At, Ctx};
use crate::definition::RawStep;
use crate::error::ProblemCode;
use crate::template::{Expr, Template};
use crate::workflow::{InputSpec, MAX_CONCURRENCY};

/// Fields that belong to fan-outs and child missions only.
pub(super) fn check_fan_out_fields(cx: &mut Ctx<'_>, i: usize, raw: &RawStep, is_wait: bool) {
    let misplaced = |cx: &mut Ctx<'_>, field: &str, message: String| {
        let code = ProblemCode::FieldNotForStepKind;
        cx.report_step(i, code, field, At::Key(field), message);
    };
    if raw.for_each.is_some() && is_wait {
        let message = "for_each fans out a task or a child workflow, not a wait".to_owned();
        let code = ProblemCode::InvalidForEach;
        cx.report_step(i, code, "for_each", At::Key("for_each"), message);
    }
    if raw.for_each.is_none() {
        for (present, field) in [
            (raw.max_concurrency.is_some(), "max_concurrency"),
            (raw.failure_policy.is_some(), "failure_policy"),
        ] {
            if present {
                misplaced(cx, field, format!("{field} is only for for_each steps"));
            }
        }
    }
    if raw.workflow.is_none() && raw.workflow_version.is_some() {
        let message = "workflow_version is only for child workflow steps".to_owned();
        misplaced(cx, "workflow_version", message);
    }
    if raw.workflow.is_some() {
        for (present, field) in [
            (raw.retry.is_some(), "retry"),
            (raw.timeout.is_some(), "timeout"),
        ] {
            if present {
                let message =
                    format!("{field} is for task steps; a child workflow's steps have their own");
                misplaced(cx, field, message);
            }
        }
    }
    if let Some(n) = raw.max_concurrency
        && !(1..=MAX_CONCURRENCY).contains(&n)
    {
        let message = format!("max_concurrency is {n}, must be 1 to {MAX_CONCURRENCY}");
        let code = ProblemCode::InvalidMaxConcurrency;
        cx.report_step(
            i,
            code,
            "max_concurrency",
            At::Key("max_concurrency"),
            message,
        );
    }
}

/// `for_each`: one `${…}` expression over inputs or an ancestor's output.
pub(super) fn check_for_each(
    cx: &mut Ctx<'_>,
    i: usize,
    text: &str,
    index: &HashMap<&str, usize>,
    inputs: &BTreeMap<String, InputSpec>,
    refs: &mut Vec<StepRef>,
) -> Option<Expr> {
    let value = Value::String(text.to_owned());
    let (template, more) = check_input(cx, i, "for_each", Some(&value), index, inputs, false);
    refs.extend(more);
    match template? {
        Template::Expr(expr) => Some(expr),
        _ => {
            let message = format!(
                "for_each {text:?} must be one ${{…}} expression naming an array, e.g. \
                 ${{steps.import.output.leads}}"
            );
            let code = ProblemCode::InvalidForEach;
            cx.report_step(i, code, "for_each", At::Key("for_each"), message);
            None
        }
    }
}
