//! `/v1/dry-run`: what the provider stand-ins would have sent (no credentials
//! configured), newest first. Nothing here was delivered, and every body says so:
//! `"dry_run": true, "label": "DRY RUN — not sent"`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rex_domain_store::DryRunFilter;
use rex_store::StoreError;
use uuid::Uuid;

use super::Reader;
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiPath, ApiQuery};
use crate::model::{DRY_RUN_LABEL, DryRunEntry, DryRunPage, DryRunQuery};
use crate::state::ApiState;
use crate::tenancy;

/// `<microseconds since the epoch>.<id>`: the last entry of a page.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", at.timestamp_micros(), id.simple())
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
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(bad)?;
    Ok((at, Uuid::try_parse(id).map_err(|_| bad())?))
}

/// List the dry-run log, newest first
#[utoipa::path(
    get, path = "/v1/dry-run", tag = "dry-run",
    params(DryRunQuery),
    responses(
        (status = 200, description = "records of messages NOT sent", body = DryRunPage),
        (status = 422, description = "a bad filter", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "dry_run.list", skip_all)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiQuery(q): ApiQuery<DryRunQuery>,
) -> Result<Json<DryRunPage>, ApiError> {
    let max = state.config.max_page;
    let limit = q.limit.unwrap_or(max);
    if !(1..=max).contains(&limit) {
        return Err(
            ApiError::invalid("invalid_parameter", format!("limit must be 1 to {max}")).at("limit"),
        );
    }
    if let Some(p) = &q.provider
        && (p.trim().is_empty() || p.len() > 64)
    {
        return Err(
            ApiError::invalid("invalid_parameter", "provider must be 1 to 64 characters")
                .at("provider"),
        );
    }
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let mut rows = match tenancy::domain_tenant(&txn, &principal.tenant).await? {
        None => Vec::new(),
        Some(tenant) => {
            let filter = DryRunFilter {
                provider: q.provider,
                message_id: q.message_id,
                limit: limit + 1,
                before: None,
            };
            rex_domain_store::list_dry_run_page(&txn, tenant, &filter, after).await?
        }
    };
    txn.commit().await.map_err(StoreError::from)?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| encode_cursor(e.recorded_at, e.id))
    } else {
        None
    };
    Ok(Json(DryRunPage {
        dry_run: true,
        label: DRY_RUN_LABEL.to_owned(),
        items: rows.iter().map(DryRunEntry::from_row).collect(),
        next_cursor,
    }))
}

/// Read one dry-run entry
#[utoipa::path(
    get, path = "/v1/dry-run/{id}", tag = "dry-run",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "a record of a message NOT sent", body = DryRunEntry),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "dry_run.get", skip_all, fields(entry = %id))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DryRunEntry>, ApiError> {
    let not_found = || ApiError::not_found(format!("dry-run entry {id} not found"));
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::domain_tenant(&txn, &principal.tenant)
        .await?
        .ok_or_else(not_found)?;
    let row = rex_domain_store::get_dry_run(&txn, tenant, id)
        .await?
        .ok_or_else(not_found)?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Json(DryRunEntry::from_row(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)).unwrap(), (at, id));
        for bad in ["", "x.y", "1.nope", "99999999999999999999.0190"] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().field.as_deref(),
                Some("cursor")
            );
        }
    }
}
