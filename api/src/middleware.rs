//! What wraps every request: its id, its span, and the security headers of the answer.
//!
//! The span records the method, the path (never the query string), the status, the
//! latency, and after authentication the tenant and the key's id: never a header's
//! value, so neither `Authorization` nor a key can reach a log line. Every answer is
//! counted in `rex_http_requests_total` and `rex_http_request_duration_seconds` by its
//! route template (`/v1/missions/{id}`), never the raw path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rex_observability::metrics::{UNMATCHED, http_metrics};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::ApiState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Security headers every answer carries. The API serves JSON, so its CSP allows
/// nothing at all; the command center's pages (`ui`) bring their own CSP and caching.
const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// A caller's request id is kept when it is short and plain; else one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned)
}

pub(crate) async fn request_context(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = request_id(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "http.request",
        http.request.method = %req.method(),
        url.path = %req.uri().path(),
        request_id = %id,
        http.response.status_code = tracing::field::Empty,
        rex.tenant = tracing::field::Empty,
        rex.api_key = tracing::field::Empty,
    );
    let value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        req.headers_mut().insert(REQUEST_ID, value.clone());
    }
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    http_metrics().observe(
        method.as_str(),
        route.as_deref().unwrap_or(UNMATCHED),
        status.as_u16(),
        started.elapsed(),
    );
    span.record("http.response.status_code", status.as_u16());
    span.in_scope(|| {
        tracing::info!(
            latency_us = started.elapsed().as_micros() as u64,
            status = status.as_u16(),
            "request"
        )
    });
    let headers = response.headers_mut();
    if let Some(value) = value {
        headers.insert(REQUEST_ID, value);
    }
    for (name, value) in SECURITY_HEADERS {
        // a page of the command center sets its own policy and caching (`ui`)
        let own = matches!(
            name,
            header::CONTENT_SECURITY_POLICY | header::CACHE_CONTROL
        );
        if !(own && headers.contains_key(&name)) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if state.config.behind_tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Unknown paths.
pub(crate) async fn not_found() -> Response {
    ApiError::not_found("no such endpoint; see /openapi.json").into_response()
}

/// Known paths, other methods.
pub(crate) async fn method_not_allowed() -> Response {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method; see /openapi.json",
    )
    .into_response()
}

/// A handler that panicked (a bug): answered as a 500 in the API's shape, and logged.
pub(crate) fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    ApiError::internal().into_response()
}
