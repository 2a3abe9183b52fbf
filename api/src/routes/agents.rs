//! `GET /v1/agents`: every agent's queue and work, for operators and the command
//! center. The counts are the deployment's (queues are shared by every tenant) and
//! carry no tenant's data.

use axum::Json;
use axum::extract::State;
use std::time::Duration;

use super::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiQuery;
use crate::model::{AgentList, AgentQuery, AgentView};
use crate::state::ApiState;

/// Default and bounds of the outcome window, in seconds.
const DEFAULT_WINDOW: u64 = 300;
const MAX_WINDOW: u64 = 86_400;

/// Agents with their queues
///
/// Per agent: messages ready in its queue, consumers, dead letters (from the broker);
/// tasks queued and in flight and the oldest queued task's age (from the checkpoints);
/// attempt outcomes and the error rate over the last `window` seconds. Lists the
/// agents this deployment runs and any other agent with work or recent attempts.
#[utoipa::path(
    get, path = "/v1/agents", tag = "agents",
    params(AgentQuery),
    responses(
        (status = 200, body = AgentList),
        (status = 422, description = "a bad window", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(skip_all, fields(rex.tenant = %principal.tenant))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiQuery(q): ApiQuery<AgentQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let window = q.window.unwrap_or(DEFAULT_WINDOW);
    if !(1..=MAX_WINDOW).contains(&window) {
        return Err(ApiError::invalid(
            "invalid_parameter",
            format!("window must be 1 to {MAX_WINDOW} seconds"),
        )
        .at("window"));
    }
    let overview = state
        .engine
        .agent_overview(&state.config.agents, Duration::from_secs(window))
        .await?;
    Ok(Json(AgentList {
        items: overview.into_iter().map(AgentView::from).collect(),
    }))
}
