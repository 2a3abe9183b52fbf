//! Reading a task's input: every failure is a permanent [`StepError`] whose message
//! starts with the path of the field at fault (`input.leads[3].history.stage: …`).

use std::io::ErrorKind;

use rex_workers::StepError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub(crate) type Obj = Map<String, Value>;

/// Largest file an `import`/`segment`/`rescore` source may be (chosen: ten times the
/// demo's 0.7 MB; a bigger CRM export should be split, not held in one task's memory).
pub(crate) const MAX_SOURCE_BYTES: u64 = 64 * 1024 * 1024;

/// A permanent error about one field.
pub(crate) fn bad(path: &str, why: impl std::fmt::Display) -> StepError {
    StepError::permanent(format!("{path}: {why}"))
}

/// The input as an object.
pub(crate) fn object(input: &Value) -> Result<&Obj, StepError> {
    input
        .as_object()
        .ok_or_else(|| bad("input", "expected a JSON object"))
}

/// The value at a dotted path (`history.engagement`), `None` when absent or null.
pub(crate) fn get<'a>(obj: &'a Obj, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut value = obj.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    (!value.is_null()).then_some(value)
}

/// The field at `dotted` as `T`; `None` when absent or null, an error naming
/// `prefix.dotted` when present but of the wrong shape.
pub(crate) fn parse<T: DeserializeOwned>(
    obj: &Obj,
    prefix: &str,
    dotted: &str,
) -> Result<Option<T>, StepError> {
    get(obj, dotted)
        .map(|v| T::deserialize(v).map_err(|e| bad(&format!("{prefix}.{dotted}"), e)))
        .transpose()
}

/// A string field; blank counts as absent.
pub(crate) fn text(obj: &Obj, prefix: &str, dotted: &str) -> Result<Option<String>, StepError> {
    Ok(parse::<String>(obj, prefix, dotted)?
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty()))
}

/// A required array.
pub(crate) fn array<'a>(obj: &'a Obj, field: &str) -> Result<&'a Vec<Value>, StepError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(bad(&format!("input.{field}"), "required")),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(bad(&format!("input.{field}"), "expected an array")),
    }
}

/// An optional whole number, at most `max`.
pub(crate) fn whole(obj: &Obj, field: &str, max: u64) -> Result<Option<u64>, StepError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(bad(
                &format!("input.{field}"),
                format!("expected a whole number from 0 to {max}, got {v}"),
            )),
        },
    }
}

/// Reads a JSON file named by the task (relative to the process's working directory).
/// A missing or unreadable file is permanent (the path is wrong); an interrupted read is
/// retryable.
pub(crate) async fn read_json_file(field: &str, path: &str) -> Result<Value, StepError> {
    let name = format!("input.{field}");
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| io_error(&name, path, &e))?;
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(bad(
            &name,
            format!(
                "{path} is {} bytes, more than the {MAX_SOURCE_BYTES} allowed",
                meta.len()
            ),
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| io_error(&name, path, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(&name, format!("{path} is not JSON: {e}")))
}

fn io_error(name: &str, path: &str, e: &std::io::Error) -> StepError {
    let message = format!("{name}: cannot read {path}: {e}");
    match e.kind() {
        ErrorKind::Interrupted | ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            StepError::retryable(message)
        }
        _ => StepError::permanent(message),
    }
}

/// Records given inline (`inline` holds an array) or in a file (`inline` or `path_field`
/// holds a path string). A file holds an array, or an object with an array under
/// `inline`'s name.
pub(crate) async fn records(
    obj: &Obj,
    inline: &str,
    path_field: &str,
) -> Result<(Vec<Value>, Option<String>), StepError> {
    let (field, path) = match (obj.get(inline), obj.get(path_field)) {
        (Some(Value::Array(items)), _) => return Ok((items.clone(), None)),
        (Some(Value::String(p)), _) => (inline, p.clone()),
        (_, Some(Value::String(p))) => (path_field, p.clone()),
        (Some(v), _) if !v.is_null() => {
            return Err(bad(
                &format!("input.{inline}"),
                "expected an array or a file path",
            ));
        }
        (_, Some(v)) if !v.is_null() => {
            return Err(bad(&format!("input.{path_field}"), "expected a file path"));
        }
        _ => {
            return Err(bad(
                &format!("input.{path_field}"),
                format!("required (a file path) unless input.{inline} is given"),
            ));
        }
    };
    if path.trim().is_empty() {
        return Err(bad(&format!("input.{field}"), "empty file path"));
    }
    match read_json_file(field, &path).await? {
        Value::Array(items) => Ok((items, Some(path))),
        Value::Object(mut o) => match o.remove(inline) {
            Some(Value::Array(items)) => Ok((items, Some(path))),
            _ => Err(bad(
                &format!("input.{field}"),
                format!("{path} holds neither an array nor an object with \"{inline}\""),
            )),
        },
        _ => Err(bad(
            &format!("input.{field}"),
            format!("{path} does not hold an array"),
        )),
    }
}

/// Objects with a non-blank string `id`, each with its path for error messages.
pub(crate) fn with_ids<'a>(
    items: &'a [Value],
    field: &str,
) -> Result<Vec<(String, String, &'a Obj)>, StepError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("input.{field}[{i}]");
            let obj = item
                .as_object()
                .ok_or_else(|| bad(&path, "expected an object"))?;
            let id =
                text(obj, &path, "id")?.ok_or_else(|| bad(&format!("{path}.id"), "required"))?;
            Ok((id, path, obj))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_reach_into_objects_and_name_the_culprit() {
        let v = json!({"history": {"stage": "nope", "engagement": null}});
        let obj = v.as_object().unwrap();
        assert!(get(obj, "history.engagement").is_none());
        let err = parse::<rex_domain::reviver::DealStage>(obj, "input.leads[2]", "history.stage")
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message
                .starts_with("input.leads[2].history.stage: unknown variant"),
            "{}",
            err.message
        );
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_the_field_name() {
        let v = json!({"min_score": 140, "max_leads": -1});
        let obj = v.as_object().unwrap();
        assert!(
            whole(obj, "min_score", 100)
                .unwrap_err()
                .message
                .starts_with("input.min_score")
        );
        assert!(whole(obj, "max_leads", u64::MAX).is_err());
        assert_eq!(whole(obj, "absent", 5).unwrap(), None);
    }

    #[tokio::test]
    async fn a_missing_file_is_a_permanent_error_naming_the_path() {
        let v = json!({"source": "no/such/file.json"});
        let err = records(v.as_object().unwrap(), "leads", "source")
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("no/such/file.json"), "{}", err.message);
        let none = json!({});
        let err = records(none.as_object().unwrap(), "leads", "source")
            .await
            .unwrap_err();
        assert!(err.message.starts_with("input.source: required"));
    }
}
