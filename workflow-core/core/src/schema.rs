//! The JSON Schema of workflow definitions, for editors and CI.
//!
//! Generated from [`RawDefinition`]'s types and doc comments, so it cannot drift from the
//! parser. A copy is committed at `definitions/workflow.schema.json`; a test fails when it
//! is stale (`REX_BLESS=1 cargo test -p rex-core --test schema` rewrites it). The schema
//! checks shape and patterns only: cycles, references and agents need
//! [validation](mod@crate::validate).

use serde_json::Value;

use crate::definition::RawDefinition;

/// The JSON Schema (draft 2020-12) of a workflow definition.
pub fn definition_schema() -> Value {
    let mut schema = schemars::schema_for!(RawDefinition).to_value();
    unwrap_descriptions(&mut schema);
    schema
}

/// Doc comments are hard-wrapped at 100 columns; editors show descriptions as flowing
/// text, so single line breaks become spaces (paragraph breaks stay).
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(text) if key == "description" => {
                        *text = text
                            .split("\n\n")
                            .map(|para| para.replace('\n', " "))
                            .collect::<Vec<_>>()
                            .join("\n\n");
                    }
                    _ => unwrap_descriptions(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// [`definition_schema`] as the committed file holds it: pretty-printed, newline-terminated.
pub fn definition_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&definition_schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_describes_steps_and_durations() {
        let schema = definition_schema();
        assert_eq!(schema["title"], "Rex workflow definition");
        assert_eq!(
            schema["required"],
            serde_json::json!(["name", "version", "steps"])
        );
        assert_eq!(schema["$defs"]["Duration"]["type"], "string");
        let step = &schema["$defs"]["Step"];
        assert_eq!(step["additionalProperties"], false);
        let depends_on = step["properties"]["depends_on"]["description"]
            .as_str()
            .unwrap();
        assert!(depends_on.starts_with("Ids of the steps that must succeed"));
        assert!(!depends_on.contains('\n'), "{depends_on}");
    }
}
