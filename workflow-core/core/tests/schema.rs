//! The committed JSON Schema must match the one generated from the code.

use std::path::PathBuf;

use rex_core::schema::definition_schema_text;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../definitions/workflow.schema.json")
}

#[test]
fn the_committed_schema_is_up_to_date() {
    let path = committed_path();
    let generated = definition_schema_text();
    if std::env::var_os("REX_BLESS").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: the definition types changed.\nRegenerate it with:\n    \
         REX_BLESS=1 cargo test -p rex-core --test schema\nand commit the result.",
        path.display()
    );
}

#[test]
fn the_schema_carries_the_field_docs() {
    let schema: serde_json::Value = serde_json::from_str(&definition_schema_text()).unwrap();
    let step = &schema["$defs"]["Step"]["properties"];
    for field in [
        "id",
        "agent",
        "action",
        "input",
        "depends_on",
        "retry",
        "timeout",
    ] {
        assert!(
            step[field]["description"].is_string() || step[field]["$ref"].is_string(),
            "steps.{field} has no description"
        );
    }
    assert_eq!(
        schema["properties"]["name"]["pattern"],
        rex_core::definition::NAME_PATTERN
    );
}
