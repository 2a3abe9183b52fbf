//! `/v1/definitions`: validate, store, list and read workflow definitions.
//!
//! Definitions are the deployment's shared catalogue (a mission of any tenant may run
//! any stored definition), so storing one takes the `admin` scope; reading and
//! validating take `read`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rex_core::Workflow;
use rex_core::validate::load;

use super::{Admin, Reader};
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiPath};
use crate::model::{
    DefinitionDetail, DefinitionList, DefinitionRequest, DefinitionSummary, StoredDefinition,
    ValidDefinition,
};
use crate::state::ApiState;

/// The name validation errors are reported under (JSON, by its extension).
const SOURCE: &str = "definition.json";

/// Validates a definition in the request's body, reporting every problem under
/// `definition.…`.
fn check(state: &ApiState, req: &DefinitionRequest) -> Result<(Vec<u8>, Workflow), ApiError> {
    if !req.definition.is_object() {
        return Err(
            ApiError::invalid("wrong_type", "the definition must be a JSON object")
                .at("definition"),
        );
    }
    let bytes = serde_json::to_vec(&req.definition).map_err(|_| ApiError::internal())?;
    match load(&bytes, Some(SOURCE), state.engine.catalog().options()) {
        Ok((_, workflow)) => Ok((bytes, workflow)),
        Err(err) => Err(ApiError::problems("definition", &err.problems)),
    }
}

/// Validate a definition without storing it
#[utoipa::path(
    post, path = "/v1/definitions/validate", tag = "definitions",
    request_body = DefinitionRequest,
    responses(
        (status = 200, description = "valid", body = ValidDefinition),
        (status = 422, description = "every problem, located", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn validate(
    State(state): State<ApiState>,
    _: Reader,
    ApiJson(req): ApiJson<DefinitionRequest>,
) -> Result<Json<ValidDefinition>, ApiError> {
    let (_, workflow) = check(&state, &req)?;
    Ok(Json(ValidDefinition {
        name: workflow.name.clone(),
        version: workflow.version,
        steps: workflow.steps.len(),
    }))
}

/// Validate and store a definition version
///
/// A version is immutable: storing the same content again answers 200, other content
/// under a stored version 409.
#[utoipa::path(
    post, path = "/v1/definitions", tag = "definitions",
    request_body = DefinitionRequest,
    responses(
        (status = 201, description = "stored", body = StoredDefinition),
        (status = 200, description = "already stored with the same content", body = StoredDefinition),
        (status = 409, description = "the version exists with other content", body = ErrorBody),
        (status = 422, description = "every problem, located", body = ErrorBody),
    ),
    security(("api_key" = ["admin"]))
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    ApiJson(req): ApiJson<DefinitionRequest>,
) -> Result<(StatusCode, Json<StoredDefinition>), ApiError> {
    let (bytes, _) = check(&state, &req)?;
    let registered = state
        .engine
        .catalog()
        .push(&bytes, Some(SOURCE))
        .await
        .map_err(|e| match e {
            // what is left after `check`: a child workflow that is not stored
            rex_engine::EngineError::Invalid(message) => {
                ApiError::invalid("invalid_child_workflow", message).at("definition.steps")
            }
            other => other.into(),
        })?;
    // definitions are shared by every tenant: who stored which version is worth a line
    tracing::info!(
        tenant = %principal.tenant,
        api_key = %principal.key_id,
        definition = %registered.row.name,
        version = registered.row.version,
        created = registered.created,
        "definition stored"
    );
    let status = if registered.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(StoredDefinition {
            summary: DefinitionSummary::from(&registered.row),
            created: registered.created,
        }),
    ))
}

/// List every stored definition version
#[utoipa::path(
    get, path = "/v1/definitions", tag = "definitions",
    responses((status = 200, body = DefinitionList)),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    _: Reader,
) -> Result<Json<DefinitionList>, ApiError> {
    let items = state
        .store
        .list_definitions()
        .await?
        .iter()
        .map(DefinitionSummary::from)
        .collect();
    Ok(Json(DefinitionList { items }))
}

/// Read one version of a definition
#[utoipa::path(
    get, path = "/v1/definitions/{name}/{version}", tag = "definitions",
    params(
        ("name" = String, Path, description = "the definition's name"),
        ("version" = i32, Path, description = "the version"),
    ),
    responses(
        (status = 200, body = DefinitionDetail),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    _: Reader,
    ApiPath((name, version)): ApiPath<(String, i32)>,
) -> Result<Json<DefinitionDetail>, ApiError> {
    let row = state
        .store
        .get_definition(&name, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("definition {name:?} v{version} not found")))?;
    let definition = serde_json::from_str(&row.body).map_err(|e| {
        tracing::error!(error = %e, "stored definition body is not JSON");
        ApiError::internal()
    })?;
    Ok(Json(DefinitionDetail {
        summary: DefinitionSummary::from(&row),
        definition,
    }))
}
