//! A small JSON Schema validator for model answers (pure). It covers what
//! answer schemas use, including everything `schemars` emits for plain
//! structs and enums: `type` (one or a list), `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum`, `const`, `minLength`,
//! `maxLength`, `minimum`, `maximum`, `minItems`, `maxItems`, `anyOf`,
//! `oneOf`, `allOf` and local `$ref`s (`#/$defs/…`, `#/definitions/…`).
//! Unknown keywords are ignored, as the specification says.

use serde_json::Value;

/// The first place an answer breaks its schema.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SchemaError {
    /// JSON path of the offending value, e.g. `$.variants[1].subject`.
    pub path: String,
    pub message: String,
}

/// Checks `value` against `schema`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), SchemaError> {
    check(schema, schema, value, "$", 0)
}

const MAX_DEPTH: usize = 64;

fn fail(path: &str, message: impl Into<String>) -> Result<(), SchemaError> {
    Err(SchemaError {
        path: path.to_owned(),
        message: message.into(),
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let actual = type_name(value);
    expected == actual
        || (expected == "number" && actual == "integer")
        || (expected == "integer" && value.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn check(
    root: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
    depth: usize,
) -> Result<(), SchemaError> {
    if depth > MAX_DEPTH {
        return fail(path, "schema nests too deeply (a $ref cycle?)");
    }
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return fail(path, "no value is allowed here"),
        Value::Object(map) => map,
        _ => return Ok(()),
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, reference).ok_or_else(|| SchemaError {
            path: path.to_owned(),
            message: format!("unresolvable $ref {reference}"),
        })?;
        check(root, target, value, path, depth + 1)?;
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, value) => {
            return fail(path, format!("expected {t}, got {}", type_name(value)));
        }
        Some(Value::Array(types))
            if !types
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)) =>
        {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            return fail(
                path,
                format!("expected {}, got {}", names.join(" or "), type_name(value)),
            );
        }
        _ => {}
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        return fail(
            path,
            format!("{value} is not one of {}", Value::Array(allowed.clone())),
        );
    }
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return fail(path, format!("expected {expected}"));
    }
    if let Some(Value::Array(subs)) = schema.get("allOf") {
        for sub in subs {
            check(root, sub, value, path, depth + 1)?;
        }
    }
    if let Some(Value::Array(subs)) = schema.get("anyOf")
        && !subs
            .iter()
            .any(|s| check(root, s, value, path, depth + 1).is_ok())
    {
        return fail(path, "matches none of anyOf");
    }
    if let Some(Value::Array(subs)) = schema.get("oneOf") {
        let passing = subs
            .iter()
            .filter(|s| check(root, s, value, path, depth + 1).is_ok())
            .count();
        if passing != 1 {
            return fail(
                path,
                format!("matches {passing} of oneOf, expected exactly 1"),
            );
        }
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                return fail(path, format!("shorter than {min} characters"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                return fail(path, format!("longer than {max} characters"));
            }
        }
        Value::Number(n) => {
            // serde_json numbers are finite, so plain comparisons are total.
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                return fail(path, format!("below the minimum {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                return fail(path, format!("above the maximum {max}"));
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                return fail(path, format!("fewer than {min} items"));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                return fail(path, format!("more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{path}[{i}]"), depth + 1)?;
                }
            }
        }
        Value::Object(object) => {
            if let Some(Value::Array(required)) = schema.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !object.contains_key(name) {
                        return fail(path, format!("missing required property {name:?}"));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, item) in object {
                let child = format!("{path}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(sub) => check(root, sub, item, &child, depth + 1)?,
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return fail(&child, "property not allowed by the schema");
                        }
                        Some(sub @ Value::Object(_)) => check(root, sub, item, &child, depth + 1)?,
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["subject", "body", "framework"],
            "additionalProperties": false,
            "properties": {
                "subject": { "type": "string", "minLength": 1, "maxLength": 80 },
                "body": { "type": "string" },
                "framework": { "enum": ["PAS", "AIDA", "BAF", "FAB"] },
                "score": { "type": ["number", "null"], "minimum": 0, "maximum": 1 },
                "variants": { "type": "array", "maxItems": 2, "items": { "$ref": "#/$defs/Variant" } }
            },
            "$defs": { "Variant": { "type": "object", "required": ["subject"], "properties": { "subject": { "type": "string" } } } }
        })
    }

    #[test]
    fn a_conforming_answer_passes() {
        let v = json!({"subject": "Hi", "body": "b", "framework": "PAS", "score": 0.5, "variants": [{"subject": "x"}]});
        assert_eq!(validate(&schema(), &v), Ok(()));
        let v = json!({"subject": "Hi", "body": "b", "framework": "AIDA", "score": null});
        assert_eq!(validate(&schema(), &v), Ok(()));
    }

    #[test]
    fn each_violation_names_its_path() {
        let cases = [
            (json!({"subject": "Hi", "body": "b"}), "$"),
            (
                json!({"subject": "", "body": "b", "framework": "PAS"}),
                "$.subject",
            ),
            (
                json!({"subject": "Hi", "body": 3, "framework": "PAS"}),
                "$.body",
            ),
            (
                json!({"subject": "Hi", "body": "b", "framework": "XYZ"}),
                "$.framework",
            ),
            (
                json!({"subject": "Hi", "body": "b", "framework": "PAS", "score": 2}),
                "$.score",
            ),
            (
                json!({"subject": "Hi", "body": "b", "framework": "PAS", "extra": 1}),
                "$.extra",
            ),
            (
                json!({"subject": "Hi", "body": "b", "framework": "PAS", "variants": [{}]}),
                "$.variants[0]",
            ),
            (json!([1, 2]), "$"),
        ];
        for (value, path) in cases {
            let err = validate(&schema(), &value).unwrap_err();
            assert_eq!(err.path, path, "{value}: {err}");
        }
    }

    #[test]
    fn ref_cycles_end_with_an_error_not_a_stack_overflow() {
        let schema = json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}});
        assert!(validate(&schema, &json!(1)).is_err());
    }

    proptest! {
        #[test]
        fn validation_never_panics(text in "\\PC{0,120}") {
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                let _ = validate(&schema(), &value);
                let _ = validate(&value, &schema());
            }
        }
    }
}
