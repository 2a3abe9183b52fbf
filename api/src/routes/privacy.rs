//! `/v1/leads/{id}/export` and `/v1/leads/{id}/erase`: GDPR access and erasure of one
//! of the tenant's leads; another tenant's lead answers 404 as a missing one.
//!
//! Both take the `admin` scope: an export is every personal field Rex holds on a
//! person, more than a `read` key (dashboards, integrations) should reach, and an
//! erasure cannot be undone. Each is recorded in the audit log in the same
//! transaction (an export's entry too: who looked at whose data is what GDPR asks to
//! be able to show).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use rex_domain_store::actions;
use serde_json::json;
use uuid::Uuid;

use super::Admin;
use super::audit::{db_error, domain_error, entry};
use crate::error::{ApiError, ErrorBody};
use crate::json::ApiPath;
use crate::model::{ErasureView, LeadExportView};
use crate::state::ApiState;
use crate::tenancy;

fn lead_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("lead {id} not found"))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| {
        tracing::error!(error = %e, "serializing an export");
        ApiError::internal()
    })
}

/// Export everything held on a lead (GDPR access)
#[utoipa::path(
    get, path = "/v1/leads/{id}/export", tag = "privacy",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LeadExportView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.leads.export", skip_all, fields(rex.tenant = %principal.tenant, lead = %id))]
pub(crate) async fn export(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<LeadExportView>, ApiError> {
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let found = rex_domain_store::export_lead(&txn, principal.tenant_id, id)
        .await
        .map_err(domain_error)?
        .ok_or_else(|| lead_not_found(id))?;
    rex_domain_store::record_audit(
        &txn,
        entry(
            &principal,
            &headers,
            actions::LEAD_EXPORT,
            id.to_string(),
            json!({
                "history": found.history.len(),
                "messages": found.messages.len(),
                "delivery_events": found.delivery_events.len(),
                "suppressions": found.suppressions.len(),
                "dry_run": found.dry_run.len(),
            }),
        ),
    )
    .await
    .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    Ok(Json(LeadExportView {
        lead: to_value(&found.lead)?,
        company: to_value(&found.company)?,
        history: to_value(&found.history)?,
        messages: to_value(&found.messages)?,
        delivery_events: to_value(&found.delivery_events)?,
        suppressions: to_value(&found.suppressions)?,
        dry_run: to_value(&found.dry_run)?,
        exported_at: rex_store::now(),
    }))
}

/// Erase a lead's personal data (GDPR erasure)
///
/// Removes names, email, phone, title and custom fields from the lead, the values
/// from its history, message receipts, delivery event payloads and dry-run entries,
/// and keeps its addresses only as hashes on the suppression ledger so the person is
/// never contacted again. Idempotent: a repeat answers `newly_erased: false`.
#[utoipa::path(
    post, path = "/v1/leads/{id}/erase", tag = "privacy",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ErasureView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["admin"]))
)]
#[tracing::instrument(name = "api.leads.erase", skip_all, fields(rex.tenant = %principal.tenant, lead = %id))]
pub(crate) async fn erase(
    State(state): State<ApiState>,
    Admin(principal): Admin,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ErasureView>, ApiError> {
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let report = rex_domain_store::erase_lead(&txn, principal.tenant_id, id, rex_store::now())
        .await
        .map_err(domain_error)?
        .ok_or_else(|| lead_not_found(id))?;
    rex_domain_store::record_audit(
        &txn,
        entry(
            &principal,
            &headers,
            actions::LEAD_ERASE,
            id.to_string(),
            to_value(&report)?,
        ),
    )
    .await
    .map_err(domain_error)?;
    txn.commit().await.map_err(db_error)?;
    for _ in 0..report.suppressions_added {
        rex_observability::metrics::metrics().suppression("do_not_contact");
    }
    Ok(Json(ErasureView::new(id, report)))
}
