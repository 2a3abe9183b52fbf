//! `/v1/secrets`: the tenant's provider credentials (SendGrid, Twilio, Calendly,
//! enrichment, LLM). Written encrypted (`rex-domain-store`'s keyring), listed by name
//! and key id, deleted; never read back through the API. Admin scope; every change is
//! in the audit log.
//!
//! Neither the value nor anything derived from it reaches a response or a log line:
//! the request body's `Debug` is redacted, and refusals never quote it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use rex_domain_store::keyring::{Keyring, KeyringError};
use rex_domain_store::{DomainStoreError, SECRET_NAMES, actions};
use serde_json::json;

use super::Admin;
use super::audit::{db_error, domain_error, entry};
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiPath};
use crate::model::{SecretList, SecretRequest, SecretView};
use crate::state::ApiState;
use crate::tenancy;

/// The name in the path, or 404 naming the known ones (a name outside the list
/// cannot exist).
fn known_name(name: &str) -> Result<(), ApiError> {
    if SECRET_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no secret {name:?}; secrets are named {}",
            SECRET_NAMES.join(", ")
        ))
        .at("name"))
    }
}

fn keyring(state: &ApiState) -> Result<&Keyring, ApiError> {
    state
        .keyring
        .as_deref()
        .ok_or_else(|| domain_error(DomainStoreError::Keyring(KeyringError::Disabled)))
}

/// Store a secret
///
/// Replaces any earlier value of the same name. The value is encrypted with the
/// server's active key and is never returned by any endpoint.
#[utoipa::path(
    put, path = "/v1/secrets/{name}", tag = "privacy",
    params(("name" = String, Path, description = "e.g. `sendgrid.api_key`; see `GET /v1/secrets` for every name")),
    request_body = SecretRequest,
    responses(
        (status = 204, description = "stored"),
        (status = 404, description = "no secret may have this name", body = ErrorBody),
        (status = 422, description = "an empty or oversized value", body = ErrorBody),
        (status = 503, description = "secret storage is not configured", body = ErrorBody),
    ),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.secrets.put", skip_all, fields(rex.tenant = %principal.tenant, secret = %name))]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<SecretRequest>,
) -> Result<StatusCode, ApiError> {
    known_name(&name)?;
    rex_domain_store::validate_secret_value(&req.value).map_err(|e| domain_error(e).at("value"))?;
    let keyring = keyring(&state)?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let info = rex_domain_store::put_secret(
        &txn,
        keyring,
        principal.tenant_id,
        &name,
        &req.value,
        rex_store::now(),
    )
    .await
    .map_err(domain_error)?;
    rex_domain_store::record_audit(
        &txn,
        entry(
            &principal,
            &headers,
            actions::SECRET_SET,
            &name,
            json!({"key_id": info.key_id}),
        ),
    )
    .await
    .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    // a webhook key may have changed
    state.webhook_secrets.forget(&principal.tenant);
    Ok(StatusCode::NO_CONTENT)
}

/// List the tenant's secrets (names and metadata, never values)
#[utoipa::path(
    get, path = "/v1/secrets", tag = "privacy",
    responses((status = 200, body = SecretList)),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.secrets.list", skip_all, fields(rex.tenant = %principal.tenant))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Admin(principal): Admin,
) -> Result<Json<SecretList>, ApiError> {
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let items = rex_domain_store::list_secrets(&txn, principal.tenant_id)
        .await
        .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    Ok(Json(SecretList {
        items: items.into_iter().map(SecretView::from).collect(),
        names: SECRET_NAMES.iter().map(|n| (*n).to_owned()).collect(),
    }))
}

/// Delete a secret
#[utoipa::path(
    delete, path = "/v1/secrets/{name}", tag = "privacy",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "the tenant has no such secret", body = ErrorBody),
    ),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.secrets.delete", skip_all, fields(rex.tenant = %principal.tenant, secret = %name))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    headers: HeaderMap,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    known_name(&name)?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    if !rex_domain_store::delete_secret(&txn, principal.tenant_id, &name)
        .await
        .map_err(domain_error)?
    {
        return Err(ApiError::not_found(format!("no secret {name:?} is stored")).at("name"));
    }
    rex_domain_store::record_audit(
        &txn,
        entry(
            &principal,
            &headers,
            actions::SECRET_DELETE,
            &name,
            json!({}),
        ),
    )
    .await
    .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    // a webhook key may have changed
    state.webhook_secrets.forget(&principal.tenant);
    Ok(StatusCode::NO_CONTENT)
}
