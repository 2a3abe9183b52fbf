//! From bytes to a [`RawDefinition`]: size, UTF-8, format, and serde's errors turned
//! into [`Problem`]s with a code, a field path and a position.
//!
//! A parse error stops validation: there is no document to check further.

use serde_json::Value;

use super::suggest;
use crate::definition::RawDefinition;
use crate::error::{Problem, ProblemCode};

/// How deep lists and maps may nest. Both parsers stop at this depth (serde_json's and
/// serde_norway's built-in recursion limits), which is what keeps a hostile
/// `[[[[…` from overflowing the stack.
pub(crate) const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Yaml,
}

impl Format {
    /// By file extension when it says, else JSON when the text starts with `{`.
    pub(crate) fn detect(file: Option<&str>, text: &str) -> Format {
        let ext = file
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match ext.as_deref() {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Checks size and encoding; strips a UTF-8 byte-order mark.
pub(crate) fn decode(bytes: &[u8], max_bytes: usize) -> Result<&str, Problem> {
    if bytes.len() > max_bytes {
        return Err(Problem::new(
            ProblemCode::TooLarge,
            "",
            format!("definition is {} bytes, at most {max_bytes}", bytes.len()),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let what = match e.error_len() {
            Some(_) => format!("invalid byte 0x{:02x}", bytes[at]),
            None => "incomplete character".to_owned(),
        };
        Problem::new(
            ProblemCode::NotUtf8,
            "",
            format!("definition is not valid UTF-8: {what} at byte {at}"),
        )
        .at(Some(line), Some(at - line_start + 1))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let blank = |line: &str| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#')
    };
    if text.lines().all(blank) {
        return Err(Problem::new(
            ProblemCode::EmptyDefinition,
            "",
            "definition is empty",
        ));
    }
    Ok(text)
}

/// Deserializes the raw definition.
pub(crate) fn parse(text: &str, format: Format) -> Result<RawDefinition, Problem> {
    match format {
        Format::Json => parse_json(text),
        Format::Yaml => parse_yaml(text),
    }
}

fn parse_json(text: &str) -> Result<RawDefinition, Problem> {
    let err = match serde_json::from_str::<RawDefinition>(text) {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let position = (err.line() > 0).then(|| (err.line(), err.column()));
    let message = strip_position(&err.to_string());
    let mut problem = match err.classify() {
        serde_json::error::Category::Data => {
            // serde_json knows where but not which field: find the path at that position.
            let path = position
                .map(|(line, column)| json_path_at(text, line, column))
                .unwrap_or_default();
            data_problem(text, Format::Json, &path, &message)
        }
        _ if message.starts_with("recursion limit exceeded") => too_deep(),
        _ => Problem::new(ProblemCode::Syntax, "", format!("invalid JSON: {message}")),
    };
    if let Some((line, column)) = position {
        problem = problem.at(Some(line), Some(column));
    }
    Err(problem)
}

fn parse_yaml(text: &str) -> Result<RawDefinition, Problem> {
    let err = match serde_norway::from_str::<RawDefinition>(text) {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let message = strip_position(&err.to_string());
    let (code, path, detail) = split_serde_message(&message);
    let mut problem = match code {
        Some(_) => data_problem(text, Format::Yaml, &path, &detail),
        None if message.starts_with("repetition limit exceeded") => Problem::new(
            ProblemCode::TooLarge,
            "",
            "aliases expand to too many values",
        ),
        None => Problem::new(ProblemCode::Syntax, "", format!("invalid YAML: {message}")),
    };
    if let Some(loc) = err.location() {
        problem = problem.at(Some(loc.line()), Some(loc.column()));
    }
    Err(problem)
}

fn too_deep() -> Problem {
    Problem::new(
        ProblemCode::TooDeep,
        "",
        format!("lists and maps are nested too deep (at most {MAX_DEPTH} levels)"),
    )
}

/// The path (`steps[0].timeout`) of the value that ends at a 1-based line and column of
/// a JSON text, found by tracking objects, keys and array indices up to there. A key
/// counts once its colon is read, so an unknown field's own name is not part of it.
fn json_path_at(text: &str, line: usize, column: usize) -> String {
    enum Frame {
        Object { key: Option<String>, colon: bool },
        Array(usize),
    }
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let end = (line_start + column).min(text.len());
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, colon: false }) = stack.last_mut() {
                    let quoted = text.get(start..(i + 1).min(text.len())).unwrap_or("");
                    *key = serde_json::from_str::<String>(quoted).ok();
                }
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                colon: false,
            }),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { colon, .. }) = stack.last_mut() {
                    *colon = true;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, colon }) => {
                    *key = None;
                    *colon = false;
                }
                Some(Frame::Array(n)) => *n += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object {
                key: Some(key),
                colon: true,
            } if path.is_empty() => path = key.clone(),
            Frame::Object {
                key: Some(key),
                colon: true,
            } => path = super::field_path(&path, key),
            Frame::Array(n) => path = format!("{path}[{n}]"),
            Frame::Object { .. } => break,
        }
    }
    path
}

/// The serde error kinds we tell apart, by the message's start.
const KINDS: &[(&str, ProblemCode)] = &[
    ("unknown field", ProblemCode::UnknownField),
    ("missing field", ProblemCode::MissingField),
    ("duplicate field", ProblemCode::DuplicateField),
    ("duplicate entry", ProblemCode::DuplicateField),
    ("invalid type", ProblemCode::WrongType),
    ("invalid value", ProblemCode::InvalidValue),
    ("invalid length", ProblemCode::InvalidValue),
    ("unknown variant", ProblemCode::InvalidValue),
    ("recursion limit exceeded", ProblemCode::TooDeep),
];

/// Splits serde_norway's `steps[0].retry: unknown field …` into the kind, the path
/// (`steps[0].retry`) and the message; a message without a known kind is a syntax error.
fn split_serde_message(message: &str) -> (Option<ProblemCode>, String, String) {
    for (start, code) in KINDS {
        let found = if message.starts_with(start) {
            Some(0)
        } else {
            message.find(&format!(": {start}")).map(|i| i + 2)
        };
        if let Some(at) = found {
            let path = message[..at].trim_end_matches(": ");
            let path = path.trim_start_matches('.');
            return (Some(*code), path.to_owned(), message[at..].to_owned());
        }
    }
    (None, String::new(), message.to_owned())
}

/// A problem with a parsed value: classified, its message tidied, its field completed
/// (an unknown or missing field's name is appended to the path) and its step named.
fn data_problem(text: &str, format: Format, path: &str, detail: &str) -> Problem {
    let (code, _, _) = split_serde_message(detail);
    let Some(code) = code else {
        return Problem::new(ProblemCode::Syntax, path, detail.to_owned());
    };
    if code == ProblemCode::TooDeep {
        return too_deep();
    }
    let names = backticked(detail);
    let mut message = tidy(detail);
    let mut field = path.to_owned();
    if matches!(code, ProblemCode::UnknownField | ProblemCode::MissingField)
        && let Some(name) = names.first()
    {
        field = if field.is_empty() {
            (*name).to_owned()
        } else {
            format!("{field}.{name}")
        };
        if code == ProblemCode::UnknownField {
            message.push_str(&suggest::did_you_mean(name, names[1..].iter().copied()));
        }
    }
    let mut problem = Problem::new(code, field, message);
    if let Some(step) = step_of(text, format, path) {
        problem = problem.in_step(step);
    }
    problem
}

/// The id of the step a `steps[N]…` path points into, read from the untyped document.
fn step_of(text: &str, format: Format, path: &str) -> Option<String> {
    let index: usize = path
        .strip_prefix("steps[")?
        .split(']')
        .next()?
        .parse()
        .ok()?;
    let doc: Value = match format {
        Format::Json => serde_json::from_str(text).ok()?,
        Format::Yaml => serde_norway::from_str(text).ok()?,
    };
    let id = doc.get("steps")?.get(index)?.get("id")?.as_str()?;
    (!id.is_empty()).then(|| id.to_owned())
}

/// The words serde quotes in backticks, in order: for an unknown field, the field and
/// then the expected ones.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// serde's message in our style: quotes instead of backticks, our type names instead of
/// Rust's.
fn tidy(message: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("struct RawDefinition", "a workflow definition (a map)"),
        ("struct RawStep", "a step (a map)"),
        ("struct RawRetry", "a retry policy (a map)"),
        ("struct RawInput", "an input spec (a map)"),
        ("expected u32", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ];
    let mut out = message.replace('`', "\"");
    for (from, to) in NAMES {
        out = out.replace(from, to);
    }
    out
}

/// Removes the first ` at line L column C` (or ` at position N`): the position goes into
/// the problem's own fields. A second one (libyaml's context mark) stays.
fn strip_position(message: &str) -> String {
    for marker in [" at line ", " at position "] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            let mut end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if marker == " at line "
                && let Some(col) = rest[end..].strip_prefix(" column ")
            {
                end +=
                    " column ".len() + col.find(|c: char| !c.is_ascii_digit()).unwrap_or(col.len());
            }
            return format!("{}{}", &message[..start], &rest[end..]);
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_then_the_first_byte() {
        assert_eq!(Format::detect(Some("a.json"), "name: x"), Format::Json);
        assert_eq!(Format::detect(Some("a.YML"), "{}"), Format::Yaml);
        assert_eq!(Format::detect(None, "  \n{\"a\": 1}"), Format::Json);
        assert_eq!(Format::detect(Some("def"), "name: x"), Format::Yaml);
    }

    #[test]
    fn positions_are_stripped_once() {
        assert_eq!(
            strip_position(
                "did not find expected ',' at line 3 column 1, while parsing a flow \
                            sequence at line 2 column 8"
            ),
            "did not find expected ',', while parsing a flow sequence at line 2 column 8"
        );
        assert_eq!(strip_position("x at position 5"), "x");
        assert_eq!(strip_position("plain"), "plain");
    }

    #[test]
    fn serde_messages_split_into_kind_path_and_text() {
        let (code, path, text) =
            split_serde_message("steps[0].retry: unknown field `bogus`, expected `jitter`");
        assert_eq!(code, Some(ProblemCode::UnknownField));
        assert_eq!(path, "steps[0].retry");
        assert_eq!(text, "unknown field `bogus`, expected `jitter`");
        let (code, path, _) = split_serde_message("invalid type: string \"one\", expected u32");
        assert_eq!((code, path.as_str()), (Some(ProblemCode::WrongType), ""));
        assert_eq!(
            split_serde_message("mapping values are not allowed").0,
            None
        );
    }

    #[test]
    fn json_paths_are_found_by_position() {
        let text = "{\"name\": \"x\", \"steps\": [{\"id\": \"a\"}, {\"id\": \"b\", \"t\": 30}]}";
        let at = |needle: &str| json_path_at(text, 1, text.find(needle).unwrap() + needle.len());
        assert_eq!(at("\"x\""), "name");
        assert_eq!(at("30"), "steps[1].t");
        assert_eq!(at("\"t\""), "steps[1]");
        assert_eq!(at("\"a\"}"), "steps[0]");
        let odd = "{\"in\": {\"a \\\" b\": [1, 2]}}";
        assert_eq!(
            json_path_at(odd, 1, odd.find("2").unwrap() + 1),
            "in[\"a \\\" b\"][1]"
        );
    }

    #[test]
    fn a_bom_is_ignored_and_blank_text_is_empty() {
        assert_eq!(decode(b"\xef\xbb\xbfname: x", 100).unwrap(), "name: x");
        assert_eq!(
            decode(b" \n# only a comment\n", 100).unwrap_err().code,
            ProblemCode::EmptyDefinition
        );
    }
}
