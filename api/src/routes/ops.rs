//! Operational endpoints, without authentication: `/healthz` (the process answers),
//! `/readyz` (the database and the broker answer), `/metrics` (Prometheus) and
//! `/openapi.json`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use rex_broker::Destination;

use crate::model::Health;
use crate::state::ApiState;

/// A readiness check that takes longer than this is a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The process is alive
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        reason: None,
    })
}

/// The database and the broker answer
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
pub(crate) async fn readyz(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let check = async {
        state
            .store
            .ping()
            .await
            .map_err(|_| "database not reachable".to_owned())?;
        state
            .broker
            .queue_stats(&Destination::Results)
            .await
            .map_err(|_| "broker not reachable".to_owned())?;
        Ok::<(), String>(())
    };
    let result = tokio::time::timeout(READY_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err("readiness check timed out".to_owned()));
    match result {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ready".to_owned(),
                reason: None,
            }),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".to_owned(),
                reason: Some(reason),
            }),
        ),
    }
}

/// Prometheus metrics of this process
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            rex_observability::metrics::CONTENT_TYPE,
        )],
        rex_observability::render(),
    )
}

/// This API's OpenAPI 3.1 document
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
