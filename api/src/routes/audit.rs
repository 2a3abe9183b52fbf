//! `/v1/audit`: the tenant's audit log, newest first; and what the secrets and
//! privacy routes share to write it.
//!
//! Entries record who (the API key's id, or `cli`) did what to the tenant's secrets,
//! API keys and personal data, with the request's id; their details never carry
//! personal data nor secret values.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use rex_domain_store::{DomainStoreError, NewAudit};
use uuid::Uuid;

use super::Admin;
use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiQuery;
use crate::middleware::REQUEST_ID;
use crate::model::{AuditEntry, AuditPage, AuditQuery};
use crate::state::ApiState;
use crate::tenancy;

/// A domain store failure as the API answers it (see `From<DomainStoreError>` in
/// `tenancy`).
pub(crate) fn domain_error(err: DomainStoreError) -> ApiError {
    err.into()
}

/// A store error from a transaction's begin or commit.
pub(crate) fn db_error(err: sea_orm::DbErr) -> ApiError {
    rex_store::StoreError::from(err).into()
}

/// An audit entry of `principal`'s request.
pub(crate) fn entry(
    principal: &Principal,
    headers: &HeaderMap,
    action: &'static str,
    target: impl Into<String>,
    details: serde_json::Value,
) -> NewAudit {
    NewAudit {
        tenant_id: principal.tenant_id,
        actor: principal.key_id.to_string(),
        action,
        target: target.into(),
        request_id: headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        details,
        at: rex_store::now(),
    }
}

/// List the audit log, newest first
///
/// Secret changes and rotations, lead exports and erasures, API key creation and
/// revocation. Admin scope: the log names keys and leads.
#[utoipa::path(
    get, path = "/v1/audit", tag = "privacy",
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 422, description = "a bad limit or cursor", body = ErrorBody),
    ),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.audit.list", skip_all, fields(rex.tenant = %principal.tenant))]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let max = state.config.max_page;
    let limit = q.limit.unwrap_or(max);
    if !(1..=max).contains(&limit) {
        return Err(
            ApiError::invalid("invalid_parameter", format!("limit must be 1 to {max}")).at("limit"),
        );
    }
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::try_parse(c).map_err(|_| {
                ApiError::invalid(
                    "invalid_parameter",
                    "cursor is not a next_cursor of this API",
                )
                .at("cursor")
            })
        })
        .transpose()?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let mut rows = rex_domain_store::list_audit(&txn, principal.tenant_id, before, limit + 1)
        .await
        .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.simple().to_string())
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}
