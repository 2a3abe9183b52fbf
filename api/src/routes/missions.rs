//! `/v1/missions`: start, list, read, cancel, retry and signal missions.
//!
//! Every query names the caller's tenant: a mission of another tenant is answered
//! exactly as one that does not exist (404), before anything is changed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rex_core::inputs::bind_inputs;
use rex_engine::{Outcome, StartMission};
use rex_store::{Family, MissionFilter, MissionScope, missions};
use uuid::Uuid;

use super::{Reader, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::model::{
    ActionOutcome, AttemptView, CancelRequest, GraphNode, MissionDetail, MissionPage, MissionQuery,
    MissionSummary, Progress, RetryRequest, SignalRequest, StartRequest, StartedMission, StepView,
    TimerView,
};
use crate::state::ApiState;
use crate::tenancy;

/// The request header naming a start's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 200;
const STATUSES: [&str; 5] = ["pending", "running", "succeeded", "failed", "cancelled"];

/// The caller's mission `id`, or 404.
pub(crate) async fn owned(
    state: &ApiState,
    tenant: &str,
    id: Uuid,
) -> Result<missions::Model, ApiError> {
    tenancy::mission(&state.store, tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("mission {id} not found")))
}

/// A header-borne or caller-chosen id: 1 to 200 visible ASCII characters.
fn valid_token(s: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if valid_token(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::bad_request(
            "invalid_header",
            format!("{IDEMPOTENCY_KEY} must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
        .at(IDEMPOTENCY_KEY)),
    }
}

/// Start a mission
///
/// With an `Idempotency-Key`, starting again with the same key and the same request
/// answers the first mission (200) instead of starting another; the same key with
/// another request is a 409. Keys are scoped by tenant.
#[utoipa::path(
    post, path = "/v1/missions", tag = "missions",
    request_body = StartRequest,
    params(("idempotency-key" = Option<String>, Header, description = "1 to 200 visible ASCII characters")),
    responses(
        (status = 201, description = "started", body = StartedMission),
        (status = 200, description = "the mission this idempotency key started before", body = StartedMission),
        (status = 409, description = "the idempotency key was used for another request", body = ErrorBody),
        (status = 422, description = "unknown definition or bad input", body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
pub(crate) async fn start(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let at = if req.version.is_some() {
        "version"
    } else {
        "definition"
    };
    let registered = state
        .engine
        .catalog()
        .get(&req.definition, req.version)
        .await
        .map_err(|e| ApiError::from(e).at(at))?;
    // Checked here as well as in the engine, for problems located under `input.…`.
    if let Err(problems) = bind_inputs(&registered.workflow, &req.input) {
        let mut error = ApiError::problems("", &problems);
        for p in &mut error.problems {
            p.field = input_path(&p.field);
        }
        error.field = error.field.as_deref().map(input_path);
        return Err(error);
    }
    let started = state
        .engine
        .start_mission_for(
            &principal.tenant,
            StartMission {
                definition: req.definition,
                version: req.version,
                input: req.input,
                // the engine's keys are global; the tenant's slug has no ':'
                idempotency_key: key.map(|k| format!("{}:{k}", principal.tenant)),
            },
        )
        .await
        .map_err(|e| match e {
            rex_engine::EngineError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "this idempotency key started a mission with another definition or input",
            )
            .at(IDEMPOTENCY_KEY),
            other => other.into(),
        })?;
    let status = if started.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (
        status,
        Json(StartedMission {
            id: started.id,
            created: started.created,
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/missions/{}", started.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `inputs.x` (the engine's name) → `input.x` (the request's field).
fn input_path(field: &str) -> String {
    match field.strip_prefix("inputs") {
        Some(rest) => format!("input{rest}"),
        None => field.to_owned(),
    }
}

/// List missions, newest first
#[utoipa::path(
    get, path = "/v1/missions", tag = "missions",
    params(MissionQuery),
    responses(
        (status = 200, body = MissionPage),
        (status = 422, description = "a bad filter", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiQuery(q): ApiQuery<MissionQuery>,
) -> Result<Json<MissionPage>, ApiError> {
    if let Some(status) = &q.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::invalid(
            "invalid_parameter",
            format!("status {status:?} is not one of {}", STATUSES.join(", ")),
        )
        .at("status"));
    }
    let max = state.config.max_page;
    let limit = q.limit.unwrap_or(max);
    if !(1..=max).contains(&limit) {
        return Err(
            ApiError::invalid("invalid_parameter", format!("limit must be 1 to {max}")).at("limit"),
        );
    }
    for (name, at) in [
        ("created_from", q.created_from),
        ("created_to", q.created_to),
    ] {
        if at.is_some_and(|t| !storable(t)) {
            return Err(ApiError::invalid(
                "invalid_parameter",
                format!("{name} must be between the years 1 and 9999"),
            )
            .at(name));
        }
    }
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let mut rows = rex_store::list_missions_in(
        &txn,
        MissionFilter {
            status: q.status,
            definition: q.definition,
            // one more than asked tells whether there is a next page
            limit: limit + 1,
            before,
            family: Family::TopLevel,
        },
        MissionScope {
            tenant: Some(principal.tenant),
            created_from: q.created_from,
            created_to: q.created_to,
        },
    )
    .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|m| encode_cursor(m.created_at, m.id))
    } else {
        None
    };
    let ids: Vec<Uuid> = rows.iter().map(|m| m.id).collect();
    let steps = rex_store::load_steps(&txn, &ids).await?;
    txn.commit().await.map_err(rex_store::StoreError::from)?;
    let items = rows
        .iter()
        .map(|m| {
            let mut summary = MissionSummary::from(m);
            let own: Vec<&rex_store::steps::Model> =
                steps.iter().filter(|s| s.mission_id == m.id).collect();
            summary.progress = Progress::of(&own);
            summary
        })
        .collect();
    Ok(Json(MissionPage { items, next_cursor }))
}

/// Whether every database can compare with this time (PostgreSQL refuses some years
/// chrono accepts).
fn storable(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(&t))
}

/// `<microseconds since the epoch>.<id>`: the last row of a page.
fn encode_cursor(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", created_at.timestamp_micros(), id.simple())
}

fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || {
        ApiError::invalid(
            "invalid_parameter",
            "cursor is not a next_cursor of this API",
        )
        .at("cursor")
    };
    let (micros, id) = cursor.split_once('.').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros)
        .filter(|t| storable(*t))
        .ok_or_else(bad)?;
    let id = Uuid::try_parse(id).map_err(|_| bad())?;
    Ok((at, id))
}

/// Read a mission with its step timeline
#[utoipa::path(
    get, path = "/v1/missions/{id}", tag = "missions",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MissionDetail), (status = 404, body = ErrorBody)),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MissionDetail>, ApiError> {
    let found = tenancy::mission_timeline(&state.store, &principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("mission {id} not found")))?;
    let (mission, mut steps) = (found.mission, found.steps);
    // the definition's order; steps it does not name (never expected) go last
    let mut graph = Vec::new();
    if let Ok(workflow) = state.engine.catalog().workflow(mission.definition_id).await {
        steps.sort_by_key(|s| workflow.step_index(&s.step_id).unwrap_or(usize::MAX));
        graph = graph_of(&workflow);
    }
    let mut summary = MissionSummary::from(&mission);
    summary.progress = Progress::of(&steps.iter().collect::<Vec<_>>());
    Ok(Json(MissionDetail {
        summary,
        input: mission.input.clone(),
        output: mission.output.clone(),
        steps: steps.iter().map(StepView::from).collect(),
        attempts: found.attempts.iter().map(AttemptView::from).collect(),
        timers: found.timers.iter().map(TimerView::from).collect(),
        graph,
    }))
}

/// The definition's steps as graph nodes, in the definition's order.
fn graph_of(workflow: &rex_core::workflow::Workflow) -> Vec<GraphNode> {
    use rex_core::workflow::StepKind;
    workflow
        .steps
        .iter()
        .map(|s| {
            let (kind, label) = match &s.kind {
                StepKind::Task { agent, action, .. } => ("task", format!("{agent}.{action}")),
                StepKind::WaitUntil { .. } => ("wait_until", "wait until".to_owned()),
                StepKind::WaitFor { signal, .. } => ("wait_for", format!("signal {signal}")),
                StepKind::FanOut(_) => ("fan_out", "child missions".to_owned()),
            };
            GraphNode {
                id: s.id.clone(),
                kind: kind.to_owned(),
                label,
                depends_on: s
                    .depends_on
                    .iter()
                    .filter_map(|&i| workflow.steps.get(i).map(|d| d.id.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// Cancel a mission
#[utoipa::path(
    post, path = "/v1/missions/{id}/cancel", tag = "missions",
    params(("id" = Uuid, Path)),
    request_body(content = Option<CancelRequest>, description = "may be empty"),
    responses((status = 200, body = ActionOutcome), (status = 404, body = ErrorBody)),
    security(("api_key" = ["write"]))
)]
pub(crate) async fn cancel(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(req): OptionalJson<CancelRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    owned(&state, &principal.tenant, id).await?;
    let reason = req
        .reason
        .unwrap_or_else(|| "cancelled through the API".to_owned());
    let applied = state.engine.cancel_mission(id, &reason).await?;
    Ok(Json(outcome(id, applied, None)))
}

/// Run a failed or cancelled mission again
#[utoipa::path(
    post, path = "/v1/missions/{id}/retry", tag = "missions",
    params(("id" = Uuid, Path)),
    request_body(content = Option<RetryRequest>, description = "may be empty"),
    responses(
        (status = 200, body = ActionOutcome),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the mission is not failed or cancelled", body = ErrorBody),
        (status = 422, description = "no such step", body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
pub(crate) async fn retry(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(req): OptionalJson<RetryRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let mission = owned(&state, &principal.tenant, id).await?;
    if let Some(step) = &req.from {
        let workflow = state
            .engine
            .catalog()
            .workflow(mission.definition_id)
            .await?;
        if workflow.step_index(step).is_none() {
            return Err(ApiError::invalid(
                "unknown_step",
                format!("mission {id} has no step {step:?}"),
            )
            .at("from"));
        }
    }
    state
        .engine
        .retry_mission(id, req.from.as_deref())
        .await
        .map_err(|e| match e {
            rex_engine::EngineError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "not_retryable", message)
            }
            other => other.into(),
        })?;
    Ok(Json(outcome(id, true, None)))
}

/// Send a signal to a mission
#[utoipa::path(
    post, path = "/v1/missions/{id}/signals", tag = "missions",
    params(("id" = Uuid, Path)),
    request_body = SignalRequest,
    responses(
        (status = 200, body = ActionOutcome),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
pub(crate) async fn signal(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<SignalRequest>,
) -> Result<Json<ActionOutcome>, ApiError> {
    let name_ok = (1..=128).contains(&req.name.len())
        && req
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        return Err(ApiError::invalid(
            "invalid_signal_name",
            "a signal name is 1 to 128 letters, digits, '.', '_' or '-'",
        )
        .at("name"));
    }
    if let Some(signal_id) = &req.id
        && !valid_token(signal_id)
    {
        return Err(ApiError::invalid(
            "invalid_value",
            format!("a signal id is 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
        .at("id"));
    }
    owned(&state, &principal.tenant, id).await?;
    let signal_id = req.id.unwrap_or_else(|| Uuid::now_v7().to_string());
    let applied = state
        .engine
        .signal(id, &req.name, req.payload, &signal_id)
        .await?;
    Ok(Json(outcome(
        id,
        applied == Outcome::Applied,
        Some(signal_id),
    )))
}

fn outcome(id: Uuid, applied: bool, signal_id: Option<String>) -> ActionOutcome {
    ActionOutcome {
        id,
        outcome: if applied { "applied" } else { "ignored" }.to_owned(),
        signal_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let (at, id) = (rex_store::now(), Uuid::now_v7());
        assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        for bad in [
            "",
            "x",
            "1.",
            ".abc",
            "12.not-a-uuid",
            "99999999999999999999.x",
        ] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().code,
                "invalid_parameter",
                "{bad}"
            );
        }
    }

    #[test]
    fn engine_input_paths_become_request_paths() {
        assert_eq!(input_path("inputs.name"), "input.name");
        assert_eq!(input_path("inputs"), "input");
    }
}
