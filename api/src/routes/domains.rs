//! `/v1/domains` and `/v1/mailboxes`: the tenant's sending domains and mailboxes, with
//! health and warmup; add, pause and resume.
//!
//! Every query names the caller's tenant (its domain id, from the slug, in the same
//! transaction as the rest): another tenant's domain or mailbox answers 404 exactly as
//! a missing one, before anything is changed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rex_domain::deliverability::{
    HealthTier, MAX_DAILY_CAP, SendStats, effective_daily_cap, warmup_daily_cap,
};
use rex_domain_store::entity::sending_domains;
use rex_domain_store::{MailboxWithHealth, NewMailbox};
use rex_store::{DatabaseTransaction, StoreError};
use uuid::Uuid;

use super::{Reader, Writer};
use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiJson, ApiPath, OptionalJson};
use crate::model::{
    DomainList, DomainRequest, DomainView, HealthThresholds, MailboxRequest, MailboxView,
    PauseRequest, Warmup,
};
use crate::state::ApiState;
use crate::tenancy;

/// The longest pause reason kept.
const MAX_REASON: usize = 500;

/// Whether `name` is a fully qualified domain name as DNS allows it for mail: at
/// least two labels of 1 to 63 letters, digits and inner hyphens, at most 253
/// characters, and a top-level label that is not all digits.
pub(crate) fn is_domain_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    (1..=253).contains(&name.len())
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A mailbox's warmup at `now`.
fn warmup_of(started: DateTime<Utc>, now: DateTime<Utc>) -> Warmup {
    let age =
        u32::try_from(now.signed_duration_since(started).num_days().max(0)).unwrap_or(u32::MAX);
    let cap = warmup_daily_cap(age);
    Warmup {
        state: if cap < MAX_DAILY_CAP {
            "warming"
        } else {
            "warm"
        }
        .to_owned(),
        day: Some(age.saturating_add(1)),
        cap: Some(cap),
    }
}

fn mailbox_view(m: &MailboxWithHealth, now: DateTime<Utc>) -> MailboxView {
    let b = &m.mailbox;
    let warmup = warmup_of(b.warmup_started_at, now);
    let age = warmup.day.unwrap_or(1) - 1;
    let daily_cap = u32::try_from(b.daily_cap).unwrap_or(0);
    let tier = m.tier().unwrap_or(HealthTier::Blocked);
    let cap_today = if m.is_paused() {
        0
    } else {
        effective_daily_cap(age, tier).min(daily_cap)
    };
    let stats = m.stats();
    MailboxView {
        id: b.id,
        domain_id: b.domain_id,
        address: b.address.clone(),
        health: b.health_tier.clone(),
        paused: b.paused,
        paused_reason: b.paused_reason.clone(),
        daily_cap,
        cap_today,
        used_today: m.sent_today,
        warmup,
        window_sent: stats.sent,
        window_bounced: stats.hard_bounces,
        window_complained: stats.complaints,
        bounce_rate: stats.bounce_rate(),
        complaint_rate: stats.complaint_rate(),
        created_at: b.created_at,
    }
}

fn domain_view(
    d: &sending_domains::Model,
    boxes: &[MailboxWithHealth],
    now: DateTime<Utc>,
) -> DomainView {
    let mailboxes: Vec<MailboxView> = boxes
        .iter()
        .filter(|m| m.mailbox.domain_id == d.id)
        .map(|m| mailbox_view(m, now))
        .collect();
    let warmup = mailboxes
        .iter()
        .min_by_key(|m| m.warmup.day)
        .map(|m| m.warmup.clone())
        .unwrap_or(Warmup {
            state: "none".to_owned(),
            day: None,
            cap: None,
        });
    let stats = boxes
        .iter()
        .filter(|m| m.mailbox.domain_id == d.id)
        .fold(SendStats::default(), |acc, m| acc.combined(m.stats()));
    DomainView {
        id: d.id,
        domain: d.domain.clone(),
        health: d.health_tier.clone(),
        paused: d.paused,
        paused_reason: d.paused_reason.clone(),
        warmup,
        mailboxes,
        bounce_rate: stats.bounce_rate(),
        complaint_rate: stats.complaint_rate(),
        created_at: d.created_at,
    }
}

/// Every domain of the tenant `tenant` (domain id) with its mailboxes, read in `txn`.
async fn views(
    txn: &DatabaseTransaction,
    tenant: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<DomainView>, ApiError> {
    let domains = rex_domain_store::list_sending_domains(txn, tenant).await?;
    let boxes = rex_domain_store::list_mailboxes(txn, tenant, now.date_naive()).await?;
    Ok(domains
        .iter()
        .map(|d| domain_view(d, &boxes, now))
        .collect())
}

fn domain_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("sending domain {id} not found"))
}

fn mailbox_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("mailbox {id} not found"))
}

async fn commit(txn: DatabaseTransaction) -> Result<(), ApiError> {
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

fn created<T: serde::Serialize>(location: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// List sending domains with their health, warmup and mailboxes
#[utoipa::path(
    get, path = "/v1/domains", tag = "domains",
    responses((status = 200, body = DomainList)),
    security(("api_key" = ["read"]))
)]
#[tracing::instrument(name = "domains.list", skip_all)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Reader(principal): Reader,
) -> Result<Json<DomainList>, ApiError> {
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let items = match tenancy::domain_tenant(&txn, &principal.tenant).await? {
        Some(tenant) => views(&txn, tenant, Utc::now()).await?,
        None => Vec::new(),
    };
    commit(txn).await?;
    Ok(Json(DomainList {
        items,
        thresholds: HealthThresholds::current(),
    }))
}

/// Add a sending domain
#[utoipa::path(
    post, path = "/v1/domains", tag = "domains",
    request_body = DomainRequest,
    responses(
        (status = 201, description = "added", body = DomainView),
        (status = 409, description = "the tenant has this domain already", body = ErrorBody),
        (status = 422, description = "not a domain name", body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "domains.add", skip_all)]
pub(crate) async fn add(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiJson(req): ApiJson<DomainRequest>,
) -> Result<Response, ApiError> {
    let domain = req.domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if !is_domain_name(&domain) {
        return Err(ApiError::invalid(
            "invalid_domain",
            format!(
                "{:?} is not a domain name (like mail.example.com)",
                req.domain
            ),
        )
        .at("domain"));
    }
    let now = Utc::now();
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::ensure_domain_tenant(&txn, &principal.tenant).await?;
    let row = match rex_domain_store::add_sending_domain(&txn, tenant, &domain, now).await {
        Ok(row) => row,
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("the sending domain {domain:?} exists already"),
            )
            .at("domain"));
        }
        Err(e) => return Err(e.into()),
    };
    commit(txn).await?;
    Ok(created(
        format!("/v1/domains/{}", row.id),
        domain_view(&row, &[], now),
    ))
}

/// `reason`, trimmed and bounded.
fn pause_reason(req: &PauseRequest) -> Result<Option<String>, ApiError> {
    let reason = req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(ApiError::invalid(
            "invalid_value",
            format!("a reason is at most {MAX_REASON} characters"),
        )
        .at("reason"));
    }
    Ok(reason.map(str::to_owned))
}

async fn set_domain_paused(
    state: &ApiState,
    tenant_slug: &str,
    id: Uuid,
    paused: bool,
    reason: Option<&str>,
) -> Result<Json<DomainView>, ApiError> {
    let now = Utc::now();
    let txn = tenancy::begin(&state.store, tenant_slug).await?;
    let tenant = tenancy::domain_tenant(&txn, tenant_slug)
        .await?
        .ok_or_else(|| domain_not_found(id))?;
    rex_domain_store::get_sending_domain(&txn, tenant, id)
        .await?
        .ok_or_else(|| domain_not_found(id))?;
    rex_domain_store::set_domain_paused(&txn, tenant, id, paused, reason, now).await?;
    let view = views(&txn, tenant, now)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| domain_not_found(id))?;
    commit(txn).await?;
    tracing::info!(domain = %id, paused, "sending domain paused or resumed");
    Ok(Json(view))
}

/// Pause a sending domain (all its mailboxes stop)
#[utoipa::path(
    post, path = "/v1/domains/{id}/pause", tag = "domains",
    params(("id" = Uuid, Path)),
    request_body(content = Option<PauseRequest>, description = "may be empty"),
    responses((status = 200, body = DomainView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "domains.pause", skip_all, fields(domain = %id))]
pub(crate) async fn pause(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(req): OptionalJson<PauseRequest>,
) -> Result<Json<DomainView>, ApiError> {
    let reason = pause_reason(&req)?;
    set_domain_paused(&state, &principal.tenant, id, true, reason.as_deref()).await
}

/// Resume a paused sending domain
#[utoipa::path(
    post, path = "/v1/domains/{id}/resume", tag = "domains",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DomainView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "domains.resume", skip_all, fields(domain = %id))]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<DomainView>, ApiError> {
    set_domain_paused(&state, &principal.tenant, id, false, None).await
}

/// Add a mailbox to a sending domain
#[utoipa::path(
    post, path = "/v1/domains/{id}/mailboxes", tag = "domains",
    params(("id" = Uuid, Path)),
    request_body = MailboxRequest,
    responses(
        (status = 201, description = "added", body = MailboxView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the tenant has this address already", body = ErrorBody),
        (status = 422, description = "not an address on the domain, or a bad cap", body = ErrorBody),
    ),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "mailboxes.add", skip_all, fields(domain = %id))]
pub(crate) async fn add_mailbox(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<MailboxRequest>,
) -> Result<Response, ApiError> {
    let daily_cap = req.daily_cap.unwrap_or(MAX_DAILY_CAP);
    if !(1..=MAX_DAILY_CAP).contains(&daily_cap) {
        return Err(ApiError::invalid(
            "invalid_value",
            format!("daily_cap must be 1 to {MAX_DAILY_CAP}"),
        )
        .at("daily_cap"));
    }
    let now = Utc::now();
    let warmup_started_at = req.warmup_started_at.unwrap_or(now);
    if warmup_started_at > now || chrono::Datelike::year(&warmup_started_at) < 1970 {
        return Err(ApiError::invalid(
            "invalid_value",
            "warmup_started_at must be in the past (and after 1970)",
        )
        .at("warmup_started_at"));
    }
    let address = req.address.trim().to_lowercase();
    if !rex_domain::channel::is_email_address(&address) {
        return Err(ApiError::invalid(
            "invalid_address",
            format!("{:?} is not an email address", req.address),
        )
        .at("address"));
    }
    let txn = tenancy::begin(&state.store, &principal.tenant).await?;
    let tenant = tenancy::domain_tenant(&txn, &principal.tenant)
        .await?
        .ok_or_else(|| domain_not_found(id))?;
    let domain = rex_domain_store::get_sending_domain(&txn, tenant, id)
        .await?
        .ok_or_else(|| domain_not_found(id))?;
    if address.rsplit_once('@').map(|(_, d)| d) != Some(domain.domain.as_str()) {
        return Err(ApiError::invalid(
            "invalid_address",
            format!("{address:?} is not an address on {}", domain.domain),
        )
        .at("address"));
    }
    let new = NewMailbox {
        tenant_id: tenant,
        domain_id: id,
        address: address.clone(),
        warmup_started_at,
        daily_cap,
    };
    let row = match rex_domain_store::add_mailbox(&txn, &new, now).await {
        Ok(row) => row,
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_exists",
                format!("the mailbox {address:?} exists already"),
            )
            .at("address"));
        }
        Err(e) => return Err(e.into()),
    };
    let view = mailbox_view(
        &MailboxWithHealth {
            mailbox: row,
            domain,
            sent_today: 0,
        },
        now,
    );
    commit(txn).await?;
    Ok(created(format!("/v1/domains/{id}"), view))
}

async fn set_mailbox_paused(
    state: &ApiState,
    tenant_slug: &str,
    id: Uuid,
    paused: bool,
    reason: Option<&str>,
) -> Result<Json<MailboxView>, ApiError> {
    let now = Utc::now();
    let txn = tenancy::begin(&state.store, tenant_slug).await?;
    let tenant = tenancy::domain_tenant(&txn, tenant_slug)
        .await?
        .ok_or_else(|| mailbox_not_found(id))?;
    match rex_domain_store::set_mailbox_paused(&txn, tenant, id, paused, reason, now).await {
        Ok(()) => {}
        Err(rex_domain_store::DomainStoreError::NotFound { .. }) => {
            return Err(mailbox_not_found(id));
        }
        Err(e) => return Err(e.into()),
    }
    let view = rex_domain_store::list_mailboxes(&txn, tenant, now.date_naive())
        .await?
        .iter()
        .find(|m| m.mailbox.id == id)
        .map(|m| mailbox_view(m, now))
        .ok_or_else(|| mailbox_not_found(id))?;
    commit(txn).await?;
    tracing::info!(mailbox = %id, paused, "mailbox paused or resumed");
    Ok(Json(view))
}

/// Pause a mailbox
#[utoipa::path(
    post, path = "/v1/mailboxes/{id}/pause", tag = "domains",
    params(("id" = Uuid, Path)),
    request_body(content = Option<PauseRequest>, description = "may be empty"),
    responses((status = 200, body = MailboxView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "mailboxes.pause", skip_all, fields(mailbox = %id))]
pub(crate) async fn pause_mailbox(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(req): OptionalJson<PauseRequest>,
) -> Result<Json<MailboxView>, ApiError> {
    let reason = pause_reason(&req)?;
    set_mailbox_paused(&state, &principal.tenant, id, true, reason.as_deref()).await
}

/// Resume a paused mailbox
#[utoipa::path(
    post, path = "/v1/mailboxes/{id}/resume", tag = "domains",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MailboxView), (status = 404, body = ErrorBody)),
    security(("api_key" = ["write"]))
)]
#[tracing::instrument(name = "mailboxes.resume", skip_all, fields(mailbox = %id))]
pub(crate) async fn resume_mailbox(
    State(state): State<ApiState>,
    Writer(principal): Writer,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MailboxView>, ApiError> {
    set_mailbox_paused(&state, &principal.tenant, id, false, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_dns_names_with_a_real_top_level_label() {
        for good in [
            "example.com",
            "mail.example.co.uk",
            "xn--bcher-kva.example",
            "a-b.io",
        ] {
            assert!(is_domain_name(good), "{good}");
        }
        for bad in [
            "localhost",
            "example",
            "-a.com",
            "a-.com",
            "a..com",
            ".com",
            "1.2.3.4",
            "ex ample.com",
            "ana@example.com",
            "example.com/x",
            "exa_mple.com",
            "",
        ] {
            assert!(!is_domain_name(bad), "{bad}");
        }
        assert!(!is_domain_name(&format!("{}.com", "a".repeat(64))));
    }

    #[test]
    fn warmup_counts_days_from_one_and_ends_at_the_top_of_the_table() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = warmup_of(start, start + chrono::Duration::hours(3));
        assert_eq!(
            (w.state.as_str(), w.day, w.cap),
            ("warming", Some(1), Some(5))
        );
        let w = warmup_of(start, start + chrono::Duration::days(120));
        assert_eq!(
            (w.state.as_str(), w.day, w.cap),
            ("warm", Some(121), Some(40))
        );
    }
}
