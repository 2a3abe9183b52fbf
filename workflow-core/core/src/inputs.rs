//! Binding a mission's input to the workflow's declared inputs.
//!
//! Rules:
//! - the given input is a JSON object; `null` means `{}`;
//! - a name the workflow does not declare is an error (with a did-you-mean);
//! - a given `null` counts as not given, so it takes the default;
//! - a required input that is not given is an error;
//! - an optional input that is not given takes its default, or `null` when it has none,
//!   so `${inputs.x}` always resolves;
//! - `integer` means a JSON number without a fraction that fits i64 or u64 (`10.0` is a
//!   `number`, not an `integer`).
//!
//! Every problem is reported, not only the first.

use serde_json::{Map, Value};

use crate::error::{Problem, ProblemCode};
use crate::validate::{field_path, suggest};
use crate::workflow::{InputType, Workflow};

/// Checks `given` against `wf`'s declared inputs and returns the complete input object:
/// every declared input, given or defaulted.
pub fn bind_inputs(wf: &Workflow, given: &Value) -> Result<Value, Vec<Problem>> {
    let empty = Map::new();
    let given = match given {
        Value::Null => &empty,
        Value::Object(map) => map,
        other => {
            return Err(vec![Problem::new(
                ProblemCode::InputsNotObject,
                "inputs",
                format!("inputs must be an object, got {}", describe_value(other)),
            )]);
        }
    };

    let mut problems = Vec::new();
    let mut names: Vec<&String> = given.keys().collect();
    names.sort();
    for name in names {
        if !wf.inputs.contains_key(name) {
            let hint = if wf.inputs.is_empty() {
                " (the workflow declares no inputs)".to_owned()
            } else {
                suggest::did_you_mean(name, wf.inputs.keys().map(String::as_str))
            };
            problems.push(Problem::new(
                ProblemCode::UnknownInput,
                field_path("inputs", name),
                format!("unknown input {name:?}{hint}"),
            ));
        }
    }

    let mut bound = Map::new();
    for (name, spec) in &wf.inputs {
        let field = field_path("inputs", name);
        let value = match given.get(name) {
            Some(v) if !v.is_null() => v.clone(),
            _ if spec.required => {
                let message = format!("missing required input {name:?}");
                problems.push(Problem::new(ProblemCode::MissingInput, field, message));
                continue;
            }
            _ => spec.default.clone().unwrap_or(Value::Null),
        };
        if !value.is_null() && !value_has_type(spec.kind, &value) {
            let message = format!("{} is not {}", describe_value(&value), type_name(spec.kind));
            problems.push(Problem::new(ProblemCode::InputTypeMismatch, field, message));
            continue;
        }
        bound.insert(name.clone(), value);
    }

    if problems.is_empty() {
        Ok(Value::Object(bound))
    } else {
        Err(problems)
    }
}

/// Whether `value` has the declared type.
pub fn value_has_type(kind: InputType, value: &Value) -> bool {
    match kind {
        InputType::String => value.is_string(),
        InputType::Integer => value.is_i64() || value.is_u64(),
        InputType::Number => value.is_number(),
        InputType::Boolean => value.is_boolean(),
        InputType::Object => value.is_object(),
        InputType::Array => value.is_array(),
    }
}

/// `a string`, `an integer`, … for messages.
pub(crate) fn type_name(kind: InputType) -> &'static str {
    match kind {
        InputType::String => "a string",
        InputType::Integer => "an integer",
        InputType::Number => "a number",
        InputType::Boolean => "a boolean",
        InputType::Object => "an object",
        InputType::Array => "an array",
    }
}

/// A value as JSON, cut to a readable length for messages.
pub(crate) fn describe_value(value: &Value) -> String {
    const MAX: usize = 40;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{ValidateOptions, load};
    use serde_json::json;

    fn workflow() -> Workflow {
        let yaml = "name: w\nversion: 1\ninputs:\n  lead_id: {type: string, required: true}\n  \
                    limit: {type: integer, default: 10}\n  ratio: {type: number}\n  \
                    tags: {type: array, default: []}\nsteps:\n  - {id: a, agent: noop, action: \
                    noop}\n";
        load(yaml.as_bytes(), None, &ValidateOptions::default())
            .unwrap()
            .1
    }

    fn codes(r: Result<Value, Vec<Problem>>) -> Vec<(ProblemCode, String)> {
        r.unwrap_err()
            .into_iter()
            .map(|p| (p.code, p.field))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_optional_inputs_become_null() {
        let bound = bind_inputs(&workflow(), &json!({"lead_id": "L1"})).unwrap();
        assert_eq!(
            bound,
            json!({"lead_id": "L1", "limit": 10, "ratio": null, "tags": []})
        );
    }

    #[test]
    fn given_values_win_over_defaults_and_null_means_absent() {
        let bound = bind_inputs(
            &workflow(),
            &json!({"lead_id": "L1", "limit": 3, "ratio": null}),
        )
        .unwrap();
        assert_eq!(bound["limit"], json!(3));
        assert_eq!(bound["ratio"], Value::Null);
    }

    #[test]
    fn every_problem_is_reported() {
        let r = bind_inputs(
            &workflow(),
            &json!({"limt": 3, "ratio": "high", "tags": {}}),
        );
        assert_eq!(
            codes(r),
            vec![
                (ProblemCode::UnknownInput, "inputs.limt".to_owned()),
                (ProblemCode::MissingInput, "inputs.lead_id".to_owned()),
                (ProblemCode::InputTypeMismatch, "inputs.ratio".to_owned()),
                (ProblemCode::InputTypeMismatch, "inputs.tags".to_owned()),
            ]
        );
        let r = bind_inputs(&workflow(), &json!({"lead_id": "x", "limt": 3})).unwrap_err();
        assert_eq!(
            r[0].message,
            "unknown input \"limt\" (did you mean \"limit\"?)"
        );
    }

    #[test]
    fn integers_have_no_fraction() {
        let wf = workflow();
        assert!(bind_inputs(&wf, &json!({"lead_id": "x", "limit": -4})).is_ok());
        assert!(bind_inputs(&wf, &json!({"lead_id": "x", "limit": u64::MAX})).is_ok());
        let r = bind_inputs(&wf, &json!({"lead_id": "x", "limit": 10.0})).unwrap_err();
        assert_eq!(r[0].message, "10.0 is not an integer");
        assert!(bind_inputs(&wf, &json!({"lead_id": "x", "ratio": 1})).is_ok());
    }

    #[test]
    fn the_input_must_be_an_object() {
        let r = bind_inputs(&workflow(), &json!([1])).unwrap_err();
        assert_eq!(r[0].code, ProblemCode::InputsNotObject);
        assert_eq!(r[0].message, "inputs must be an object, got [1]");
        assert_eq!(
            codes(bind_inputs(&workflow(), &Value::Null)),
            vec![(ProblemCode::MissingInput, "inputs.lead_id".to_owned())]
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = json!("x".repeat(100));
        assert_eq!(describe_value(&long).chars().count(), 41);
    }
}
