//! The API's one error type and its JSON body.
//!
//! Every failure, from a missing key to a database outage, answers with the same shape
//! `{code, message, field}`: `code` is stable (clients match on it), `field` names the
//! JSON path (`input.steps[2].agent`), query parameter or header at fault. Bad input is
//! the client's business and is not logged as an error; only 5xx are.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rex_core::error::Problem;
use rex_engine::EngineError;
use rex_store::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code, e.g. `unknown_field`, `rate_limited`.
    pub code: String,
    /// Human-readable, lowercase, specific.
    pub message: String,
    /// The JSON path, query parameter or header at fault; null when none is.
    pub field: Option<String>,
    /// Every problem of a rejected definition or mission input (the first one is also
    /// in `code`, `message` and `field`); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemBody>,
}

/// One problem of a definition or a mission input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    pub code: String,
    pub message: String,
    pub field: String,
    /// The step at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// A failed request: a status and the body it answers with.
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub problems: Vec<ProblemBody>,
    /// Seconds for `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            problems: Vec::new(),
            retry_after: None,
        }
    }

    /// Names the field, parameter or header at fault.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message).at("authorization")
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 422 listing every problem; `prefix` roots their paths in the request body
    /// (`definition` → `definition.steps[2].agent`).
    pub fn problems(prefix: &str, problems: &[Problem]) -> Self {
        let problems: Vec<ProblemBody> = problems
            .iter()
            .map(|p| ProblemBody {
                code: p.code.as_str().to_owned(),
                message: p.to_string(),
                field: join_path(prefix, &p.field),
                step: p.step.clone(),
            })
            .collect();
        let mut error = match problems.first() {
            Some(first) => {
                Self::invalid(&first.code, first.message.clone()).at(first.field.clone())
            }
            None => Self::invalid("invalid", "invalid request").at(prefix),
        };
        error.problems = problems;
        error
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after = Some(1);
        e
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.clone(),
            message: self.message.clone(),
            field: self.field.clone(),
            problems: self.problems.clone(),
        }
    }
}

/// `prefix.path`, `prefix[0]` or `prefix` alone.
pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => path.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = %self.code, status = %self.status, "request failed");
        } else {
            tracing::debug!(code = %self.code, status = %self.status, "request refused");
        }
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::DefinitionConflict { .. } => {
                Self::new(StatusCode::CONFLICT, "version_conflict", err.to_string())
                    .at("definition.version")
            }
            e if e.is_retryable() => {
                tracing::warn!(error = %err, "database unavailable");
                Self::unavailable("the database is unavailable; try again")
            }
            _ => {
                tracing::error!(error = %err, "database error");
                Self::internal()
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match err {
            EngineError::Store(e) => e.into(),
            EngineError::Broker(e) => {
                tracing::warn!(error = %e, "broker unavailable");
                Self::unavailable("the broker is unavailable; try again")
            }
            EngineError::Invalid(message) => Self::invalid("invalid", message),
            EngineError::DefinitionNotFound { name, version } => Self::invalid(
                "unknown_definition",
                format!("no stored definition {name:?} (version {version})"),
            )
            .at("definition"),
            EngineError::MissionNotFound(id) => Self::not_found(format!("mission {id} not found")),
            EngineError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            EngineError::Corrupt(message) => {
                tracing::error!(%message, "corrupt row");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::join_path;

    #[test]
    fn field_paths_are_rooted_in_the_request_body() {
        assert_eq!(
            join_path("definition", "steps[2].agent"),
            "definition.steps[2].agent"
        );
        assert_eq!(join_path("definition", ""), "definition");
        assert_eq!(join_path("input", "[0]"), "input[0]");
        assert_eq!(join_path("", "name"), "name");
    }
}
