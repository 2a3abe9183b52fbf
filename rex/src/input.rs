//! `--input JSON|@file`.

use anyhow::Context;
use serde_json::Value;

/// Reads inline JSON, or the JSON file named after `@`.
pub fn parse(arg: &str) -> anyhow::Result<Value> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read input file {path}"))?,
            path.to_owned(),
        ),
        None => (arg.to_owned(), "--input".to_owned()),
    };
    serde_json::from_str(&text).with_context(|| format!("{origin}: not valid JSON"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn inline_json_parses_and_garbage_names_its_origin() {
        assert_eq!(super::parse(r#"{"a":1}"#).unwrap()["a"], 1);
        let err = super::parse("{nope").unwrap_err();
        assert!(format!("{err:#}").starts_with("--input: not valid JSON"));
    }
}
