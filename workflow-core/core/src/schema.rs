//! The JSON Schema of workflow definitions, for editors and CI.
//!
//! Generated from [`RawDefinition`]'s types and doc comments, so it cannot drift from the
//! parser. A copy is committed at `definitions/workflow.schema.json`; a test fails when it
//! is stale (`REX_BLESS=1 cargo test -p rex-core --test schema` rewrites it). The schema
//! checks shape and patterns only: cycles, references and agents need [`crate::validate`].

use serde_json::Value;

use crate::definition::RawDefinition;

/// The JSON Schema (draft 2020-12) of a workflow definition.
pub fn definition_schema() -> Value {
    schemars::schema_for!(RawDefinition).to_value()
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
        assert_eq!(schema["required"], serde_json::json!(["name", "version", "steps"]));
        assert_eq!(schema["$defs"]["Duration"]["type"], "string");
        let step = &schema["$defs"]["RawStep"];
        assert_eq!(step["additionalProperties"], false);
        assert!(step["properties"]["depends_on"]["description"].is_string());
    }
}
