//! `/v1/leads`: import (CSV or JSON, validated row by row), list and read with history
//! and suppression state.
//!
//! An import is one transaction: every valid row is written (inserted, or updated with
//! its change in the lead's history), every rejected row is reported with its row
//! number, field and message, and a failure of the database writes nothing. A row is
//! never half-written: it is validated whole before anything is stored.
//!
//! Bodies: `text/csv` (a header line naming the columns of `rex_domain_store::csv`;
//! rows are numbered by CSV line, the header being line 1) or `application/json` as
//! `{"leads": [{…}, …]}` (rows numbered by their 1-based position in `leads`). A CSV
//! without a required column (`external_id`, `source`, `stage`) is a 422 naming it.
//! Bounded by the body limit (413) and by `ApiConfig::max_import_rows` (413).

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use rex_domain::reviver::DealStage;
use rex_domain_store::csv::{CsvError, LEAD_COLUMNS, lead_rows_from_csv};
use rex_domain_store::{LeadFilter, LeadRow, RowError};
use rex_store::StoreError;
use serde_json::Value;
use uuid::Uuid;

use super::{Reader, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiPath, ApiQuery};
use crate::model::{
    CompanyView, ImportResult, LeadChange, LeadDetail, LeadImportRequest, LeadPage, LeadQuery,
    LeadView, RejectedRow, SuppressionState,
};
use crate::state::ApiState;
use crate::tenancy;

/// The fields a JSON row may have: the CSV columns, with `consent` as one object.
fn json_field_known(name: &str) -> bool {
    name == "consent" || (LEAD_COLUMNS.contains(&name) && !name.starts_with("consent_"))
}

fn rejected(row: usize, external_id: &str, field: &str, message: impl Into<String>) -> RejectedRow {
    RejectedRow {
        row,
        external_id: external_id.trim().to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A JSON row as a [`LeadRow`], or the first problem with it.
fn json_row(row: usize, value: Value) -> Result<LeadRow, RejectedRow> {
    let Value::Object(map) = &value else {
        return Err(rejected(row, "", "", "a row must be a JSON object"));
    };
    let external_id = map
        .get("external_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(unknown) = map.keys().find(|k| !json_field_known(k)) {
        return Err(rejected(row, &external_id, unknown, "unknown field"));
    }
    serde_path_to_error::deserialize::<_, LeadRow>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        rejected(row, &external_id, &field, message)
    })
}

/// Times PostgreSQL and SQLite both store (chrono parses years PostgreSQL refuses).
fn storable_times(row: usize, r: &LeadRow) -> Result<(), RejectedRow> {
    for (field, at) in [
        ("lost_at", r.lost_at),
        ("last_contact_at", r.last_contact_at),
    ] {
        if at.is_some_and(|t| !(1..=9999).contains(&chrono::Datelike::year(&t))) {
            return Err(rejected(
                row,
                &r.external_id,
                field,
                "must be between the years 1 and 9999",
            ));
        }
    }
    Ok(())
}

fn csv_error(e: &CsvError) -> ApiError {
    let (status, code) = match e {
        CsvError::MissingColumn(_) => (StatusCode::UNPROCESSABLE_ENTITY, "missing_column"),
        CsvError::UnknownColumn(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_column"),
        CsvError::RepeatedColumn(_) => (StatusCode::UNPROCESSABLE_ENTITY, "repeated_column"),
        CsvError::TooManyRows(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_rows"),
        _ => (StatusCode::UNPROCESSABLE_ENTITY, "malformed_csv"),
    };
    let error = ApiError::new(status, code, e.to_string());
    match e.field() {
        Some(field) => error.at(field),
        None => error,
    }
}

fn too_many_rows(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_rows",
        format!("an import takes at most {max} rows; split the file"),
    )
}

fn body_error(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than this server accepts",
        )
    } else {
        ApiError::bad_request("unreadable_body", "the request body could not be read")
    }
}

/// Rows with their numbers, and the rows rejected before the store saw them.
type ReadRows = (Vec<(usize, LeadRow)>, Vec<RejectedRow>);

/// The rows of the body, each with its number as the caller sees it, and the rows
/// already rejected while reading them.
fn read_rows(headers: &HeaderMap, bytes: &[u8], state: &ApiState) -> Result<ReadRows, ApiError> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let max = state.config.max_import_rows;
    let (rows, mut errors) = match mime.as_str() {
        "text/csv" => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                ApiError::bad_request("invalid_encoding", "a CSV body must be UTF-8")
            })?;
            if text.contains('\0') {
                return Err(ApiError::invalid(
                    "invalid_value",
                    "the CSV may not contain the NUL character",
                ));
            }
            let (rows, errors) = lead_rows_from_csv(text, max).map_err(|e| csv_error(&e))?;
            let errors = errors.iter().map(row_error).collect();
            (rows, errors)
        }
        "application/json" => {
            let req: LeadImportRequest = crate::json::parse(bytes, state.config.max_json_depth)?;
            if req.leads.len() > max {
                return Err(too_many_rows(max));
            }
            let mut rows = Vec::with_capacity(req.leads.len());
            let mut errors = Vec::new();
            for (i, value) in req.leads.into_iter().enumerate() {
                match json_row(i + 1, value) {
                    Ok(row) => rows.push((i + 1, row)),
                    Err(e) => errors.push(e),
                }
            }
            (rows, errors)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the leads as `content-type: text/csv` or `application/json`",
            )
            .at("content-type"));
        }
    };
    let mut kept = Vec::with_capacity(rows.len());
    for (n, row) in rows {
        match storable_times(n, &row) {
            Ok(()) => kept.push((n, row)),
            Err(e) => errors.push(e),
        }
    }
    Ok((kept, errors))
}

fn row_error(e: &RowError) -> RejectedRow {
    rejected(e.row, &e.external_id, e.field, e.message.clone())
}

/// Import leads from CSV or JSON
///
/// Every row is validated; the valid ones are written in one transaction and the
/// rejected ones reported (`errors`: row, field, message). JSON bodies are
/// `{"leads": [{…}, …]}`; CSV bodies have a header line naming the columns.
#[utoipa::path(
    post, path = "/v1/leads/import", tag = "leads",
    request_body(
        content(
            (LeadImportRequest = "application/json"),
            (String = "text/csv", example = "external_id,email,source,stage\nL1,ana@acme.io,hubspot,demo\n"),
        ),
    ),
    responses(
        (status = 200, description = "imported; rejected rows in errors", body = ImportResult),
        (status = 413, description = "more rows than an import takes", body = ErrorBody),
        (status = 415, description = "neither CSV nor JSON", body = ErrorBody),
        (status = 422, description = "a CSV header without a required column, or an unreadable CSV", body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "leads.import", skip_all, fields(rows, rejected))]
pub(crate) async fn import(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportResult>, ApiError> {
    let bytes = body.map_err(|r| body_error(&r))?;
    let (rows, mut errors) = read_rows(&headers, &bytes, &state)?;
    let numbers: Vec<usize> = rows.iter().map(|(n, _)| *n).collect();
    let rows: Vec<LeadRow> = rows.into_iter().map(|(_, r)| r).collect();
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::ensure_domain_tenant(&txn, &principal.tenant).await?;
    let report = rex_domain_store::import_leads(&txn, tenant, &rows, Utc::now()).await?;
    txn.commit().await.map_err(StoreError::from)?;
    // the store numbers rows by their place in `rows`: back to the caller's numbers
    errors.extend(report.errors.iter().map(|e| {
        let mut r = row_error(e);
        r.row = numbers.get(e.row.wrapping_sub(1)).copied().unwrap_or(e.row);
        r
    }));
    errors.sort_by_key(|e| e.row);
    let rejected = errors.iter().map(|e| e.row).collect::<BTreeSet<_>>().len();
    let span = tracing::Span::current();
    span.record("rows", numbers.len() + rejected);
    span.record("rejected", rejected);
    Ok(Json(ImportResult {
        inserted: report.inserted,
        updated: report.updated,
        unchanged: report.unchanged,
        rejected,
        errors,
    }))
}

fn bad_cursor() -> ApiError {
    ApiError::invalid(
        "invalid_parameter",
        "cursor is not a next_cursor of this API",
    )
    .at("cursor")
}

/// List leads in import order (ids are time-ordered)
#[utoipa::path(
    get, path = "/v1/leads", tag = "leads",
    params(LeadQuery),
    responses(
        (status = 200, body = LeadPage),
        (status = 422, description = "a bad filter", body = ErrorBody),
    ),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "leads.list", skip_all)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiQuery(q): ApiQuery<LeadQuery>,
) -> Result<Json<LeadPage>, ApiError> {
    let stage = match &q.stage {
        None => None,
        Some(s) => Some(
            rex_domain_store::codec::parse_enum::<DealStage>(&s.trim().to_ascii_lowercase())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_parameter",
                        format!(
                            "stage {s:?} is not one of lead, mql, sql, demo, proposal, negotiation"
                        ),
                    )
                    .at("stage")
                })?,
        ),
    };
    let max = state.config.max_page;
    let limit = q.limit.unwrap_or(max);
    if !(1..=max).contains(&limit) {
        return Err(
            ApiError::invalid("invalid_parameter", format!("limit must be 1 to {max}")).at("limit"),
        );
    }
    let after = q
        .cursor
        .as_deref()
        .map(|c| Uuid::try_parse(c).map_err(|_| bad_cursor()))
        .transpose()?;
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let mut rows = match tenancy::domain_tenant(&txn, &principal.tenant).await? {
        None => Vec::new(),
        Some(tenant) => {
            let filter = LeadFilter {
                stage,
                company_id: q.company_id,
                after,
                limit: limit + 1,
            };
            rex_domain_store::list_leads(&txn, tenant, &filter).await?
        }
    };
    txn.commit().await.map_err(StoreError::from)?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|l| l.id.simple().to_string())
    } else {
        None
    };
    Ok(Json(LeadPage {
        items: rows.iter().map(LeadView::from).collect(),
        next_cursor,
    }))
}

/// Read a lead with its history and suppression state
#[utoipa::path(
    get, path = "/v1/leads/{id}", tag = "leads",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LeadDetail), (status = 404, body = ErrorBody)),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "leads.get", skip_all, fields(lead = %id))]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Reader(principal): Reader,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<LeadDetail>, ApiError> {
    let not_found = || ApiError::not_found(format!("lead {id} not found"));
    let now: DateTime<Utc> = Utc::now();
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::domain_tenant(&txn, &principal.tenant)
        .await?
        .ok_or_else(not_found)?;
    let found = rex_domain_store::get_lead_with_history(&txn, tenant, id)
        .await?
        .ok_or_else(not_found)?;
    let suppressions = rex_domain_store::lead_suppressions(&txn, tenant, id, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(Json(LeadDetail {
        lead: LeadView::from(&found.lead),
        company: found.company.as_ref().map(CompanyView::from),
        history: found.history.iter().map(LeadChange::from).collect(),
        suppression: SuppressionState::of(&suppressions),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_json_row_names_its_unknown_or_mistyped_field() {
        let e = json_row(3, json!({"external_id": "L1", "colour": "red"})).unwrap_err();
        assert_eq!((e.row, e.field.as_str()), (3, "colour"));
        let e = json_row(1, json!({"external_id": "L1", "lost_at": "soon"})).unwrap_err();
        assert_eq!(e.field, "lost_at");
        assert_eq!(e.external_id, "L1");
        let e = json_row(2, json!([1])).unwrap_err();
        assert_eq!(e.row, 2);
        let ok = json_row(
            1,
            json!({"external_id": "L1", "source": "x", "stage": "demo", "consent": {"email": "granted", "sms": "unknown", "linkedin": "unknown"}}),
        )
        .unwrap();
        assert_eq!(ok.consent.email, rex_domain::channel::Consent::Granted);
    }
}
