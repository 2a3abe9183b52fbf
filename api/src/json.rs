//! Reading request bodies and query strings into typed requests, with every failure
//! answered in the API's error shape.
//!
//! Bodies are read whole (bounded by the router's body limit, 413 past it), checked for
//! nesting depth before parsing (413 past [`crate::ApiConfig::max_json_depth`]: a
//! hostile `[[[[…` costs a linear scan, never the parser's recursion), then parsed with
//! the path of the failing field kept. Request types use `deny_unknown_fields`, so a
//! misspelt field is a 422 naming it rather than a silently ignored value.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, join_path};
use crate::state::ApiState;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

/// A JSON request body that may be empty (then `T::default()`), for actions whose
/// options are all optional (`POST …/cancel`).
pub struct OptionalJson<T>(pub T);

/// A query string.
pub struct ApiQuery<T>(pub T);

/// Path parameters; `field` names them in errors.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned> FromRequest<ApiState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let bytes = read_json_body(req, state).await?;
        parse(&bytes, state.config.max_json_depth).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<ApiState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &ApiState) -> Result<Self, ApiError> {
        let declared_json = is_json(&req);
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !declared_json {
            return Err(unsupported_media_type());
        }
        parse(&bytes, state.config.max_json_depth).map(OptionalJson)
    }
}

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if has_encoded_nul(parts.uri.query().unwrap_or("")) {
            return Err(ApiError::invalid(
                "invalid_parameter",
                "query parameters may not contain the NUL character (%00)",
            )
            .at("query"));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                // "unknown field `x`" names it in backticks; a value that does not
                // parse is "x: invalid digit …"
                let field = backticked(&text)
                    .or_else(|| named_prefix(&text))
                    .unwrap_or("query")
                    .to_owned();
                let code = if text.contains("unknown field") {
                    "unknown_parameter"
                } else {
                    "invalid_parameter"
                };
                ApiError::invalid(code, format!("query string: {text}")).at(field)
            })
    }
}

/// `name` of a `"name: reason"` message, when it is a parameter name.
fn named_prefix(text: &str) -> Option<&str> {
    let (name, _) = text.split_once(": ")?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    plain.then_some(name)
}

impl<T: DeserializeOwned + Send> FromRequestParts<ApiState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        if has_encoded_nul(parts.uri.path()) {
            return Err(ApiError::bad_request(
                "invalid_path",
                "the path may not contain the NUL character (%00)",
            )
            .at("path"));
        }
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| ApiPath(p))
            .map_err(|rejection| {
                ApiError::bad_request("invalid_path", rejection.body_text()).at("path")
            })
    }
}

async fn read_json_body(req: Request, state: &ApiState) -> Result<Bytes, ApiError> {
    if !is_json(&req) {
        return Err(unsupported_media_type());
    }
    Bytes::from_request(req, state).await.map_err(body_error)
}

/// Whether the request declares a JSON body (`application/json` or `…+json`).
fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON with `content-type: application/json`",
    )
    .at("content-type")
}

pub(crate) fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this server accepts",
        )
    } else {
        ApiError::bad_request("unreadable_body", "the request body could not be read")
    }
}

/// Parses a JSON document into `T`, keeping the path of the failing field.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    if let Some(depth) = exceeds_depth(bytes, max_depth) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "json_too_deep",
            format!("the JSON body is nested deeper than {max_depth} levels (at least {depth})"),
        ));
    }
    if has_nul_escape(bytes) {
        // PostgreSQL's text and jsonb cannot hold U+0000: refused here rather than
        // failing in the database
        return Err(ApiError::invalid(
            "invalid_value",
            "strings may not contain the NUL character (\\u0000)",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        data_error(err.inner(), &path)
    })?;
    de.end().map_err(|e| data_error(&e, ""))?;
    Ok(value)
}

fn data_error(err: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    let text = err.to_string();
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            let message = if bytes_were_empty(err) {
                "the request body is empty; expected a JSON object".to_owned()
            } else {
                format!("malformed JSON: {text}")
            };
            ApiError::bad_request("malformed_json", message)
        }
        Category::Data => {
            let (code, named) = if text.starts_with("unknown field") {
                ("unknown_field", backticked(&text))
            } else if text.starts_with("missing field") {
                ("missing_field", backticked(&text))
            } else if text.starts_with("invalid type") {
                ("wrong_type", None)
            } else {
                ("invalid_value", None)
            };
            let field = match named {
                Some(name) if !path.ends_with(name) => join_path(path, name),
                _ => path.to_owned(),
            };
            let message = match text.rfind(" at line ") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            let error = ApiError::invalid(code, message);
            if field.is_empty() {
                error
            } else {
                error.at(field)
            }
        }
    }
}

fn bytes_were_empty(err: &serde_json::Error) -> bool {
    err.classify() == serde_json::error::Category::Eof && err.line() == 1 && err.column() == 0
}

/// The first `` `name` `` in a serde message.
fn backticked(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// Whether a JSON string holds `\u0000` (raw control characters are not JSON, so
/// the escape is the only way to write one).
fn has_nul_escape(bytes: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if !in_string {
            in_string = b == b'"';
            continue;
        }
        match (escaped, b) {
            (true, b'u') => {
                escaped = false;
                if bytes.get(i + 1..i + 5) == Some(&b"0000"[..]) {
                    return true;
                }
            }
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => in_string = false,
            _ => {}
        }
    }
    false
}

/// A path or query string with a percent-encoded NUL, which no parameter may hold.
fn has_encoded_nul(text: &str) -> bool {
    text.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0')
}

/// The depth reached when it passes `max`, scanning brackets outside strings; `None`
/// when the document stays within it (malformed JSON is left to the parser).
fn exceeds_depth(bytes: &[u8], max: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(depth);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Vec<Inner>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(exceeds_depth(br#"{"a": "[[[[[["}"#, 2), None);
        assert_eq!(exceeds_depth(b"[[[", 2), Some(3));
        assert_eq!(exceeds_depth(br#"{"a\"[[": [1]}"#, 2), None);
    }

    #[test]
    fn nul_escapes_are_found_only_inside_strings() {
        assert!(has_nul_escape(br#"{"a": "x\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "x\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "\u0001"}"#));
        assert!(has_encoded_nul("/v1/definitions/a%00b/1"));
        assert!(!has_encoded_nul("/v1/definitions/a%20b/1"));
    }

    #[test]
    fn unknown_and_missing_fields_are_named_by_path() {
        let e = parse::<Outer>(
            br#"{"name": "x", "inner": [{"n": 1}, {"n": 2, "m": 3}]}"#,
            64,
        )
        .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("unknown_field", Some("inner[1].m"))
        );
        let e = parse::<Outer>(br#"{"inner": []}"#, 64).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("missing_field", Some("name"))
        );
        let e = parse::<Outer>(br#"{"name": 1, "inner": []}"#, 64).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("wrong_type", Some("name"))
        );
    }

    #[test]
    fn syntax_errors_and_trailing_bytes_are_malformed() {
        for body in [&b"{"[..], b"", br#"{"name": "x", "inner": []} x"#] {
            let e = parse::<Outer>(body, 64).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(e.code, "malformed_json");
        }
    }
}
