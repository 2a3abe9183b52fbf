//! `/v1/webhooks/{tenant}/…`: events pushed by SendGrid, Twilio and Calendly.
//!
//! No API key: the provider's signature over the raw body authenticates the request,
//! with the key [`crate::webhooks::secrets::WebhookSecrets`] resolves for the tenant
//! in the URL; a provider with no key is refused (404), a forged, tampered, replayed
//! (stale timestamp) or unsigned request answers 401, a signed body we cannot read 400,
//! and none of them stores or publishes anything.
//!
//! An accepted request records a receipt per event (`webhook_receipts`, one
//! `INSERT … ON CONFLICT DO NOTHING RETURNING`), hands the new events to the inbox
//! queue (confirmed by the broker) and answers 200 at once; lead lookups and ledger
//! writes happen in the inbox consumer. An event received before is answered 200 and
//! not handed on again. If the hand-over fails, the new receipts are removed and the
//! answer is 503, so that the provider retries and the retry counts as new.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use rex_adapters::{calendly, sendgrid, twilio};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::json::{ApiPath, body_error};
use crate::state::ApiState;
use crate::webhooks::secrets::WebhookProvider;
use crate::webhooks::{
    self, CALENDLY, InboxEvent, SENDGRID, TWILIO_INBOUND, TWILIO_STATUS, refusal, valid_event_id,
    valid_tenant,
};

/// What an accepted webhook request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    /// Events handed to the inbox now.
    pub accepted: usize,
    /// Events received before (or repeated within this request): not handed on again.
    pub duplicates: usize,
    /// Events of a batch that could not be read; the others were taken.
    pub rejected: Vec<RejectedEventBody>,
}

/// An unreadable event of a SendGrid batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedEventBody {
    /// Its index in the posted array.
    pub index: usize,
    pub reason: String,
}

/// The empty TwiML answer to an inbound message: no reply is sent.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// Receive SendGrid events
///
/// SendGrid's signed event webhook: a JSON array of events, signed with ECDSA P-256
/// over the timestamp header and the raw body (5 minutes' tolerance).
#[utoipa::path(
    post, path = "/v1/webhooks/{tenant}/sendgrid", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "SendGrid's event array, as signed"),
    params(
        ("tenant" = String, Path, description = "the tenant's slug"),
        ("X-Twilio-Email-Event-Webhook-Signature" = String, Header, description = "base64 DER ECDSA signature"),
        ("X-Twilio-Email-Event-Webhook-Timestamp" = String, Header, description = "unix seconds"),
    ),
    responses(
        (status = 200, description = "events taken (new ones handed to the inbox)", body = WebhookAck),
        (status = 400, description = "signed, but not a JSON array", body = ErrorBody),
        (status = 401, description = "missing, forged or stale signature", body = ErrorBody),
        (status = 404, description = "unknown tenant or no key configured", body = ErrorBody),
        (status = 503, description = "the inbox or the database is unavailable; retry", body = ErrorBody),
    ),
)]
#[tracing::instrument(name = "webhook.sendgrid", skip_all, fields(rex.tenant = %tenant, rex.webhook.events = tracing::field::Empty))]
pub(crate) async fn sendgrid(
    State(state): State<ApiState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookAck>, ApiError> {
    let key = key(&state, &tenant, WebhookProvider::SendGrid).await?;
    let body = body.map_err(body_error)?;
    let verifier = sendgrid::SendGridWebhookVerifier::from_public_key(key.expose())
        .map_err(|e| refusal(&e))?;
    verifier
        .verify(
            header_text(&headers, sendgrid::SIGNATURE_HEADER)?,
            header_text(&headers, sendgrid::TIMESTAMP_HEADER)?,
            &body,
            Utc::now(),
        )
        .map_err(|e| refusal(&e))?;
    let parsed = sendgrid::parse_events(&body).map_err(|e| refusal(&e))?;
    let mut rejected: Vec<RejectedEventBody> = parsed
        .rejected
        .iter()
        .map(|r| RejectedEventBody {
            index: r.index,
            reason: r.reason.clone(),
        })
        .collect();
    let mut events = Vec::with_capacity(parsed.events.len());
    for (index, event) in parsed.events.iter().enumerate() {
        if !valid_event_id(&event.sg_event_id) {
            rejected.push(RejectedEventBody {
                index,
                reason: "sg_event_id must be 1 to 200 characters without control characters".into(),
            });
            continue;
        }
        events.push((event.sg_event_id.clone(), to_value(event)?));
    }
    tracing::Span::current().record("rex.webhook.events", events.len());
    let mut ack = hand_over(&state, &tenant, SENDGRID, events).await?;
    ack.duplicates += parsed.duplicates;
    ack.rejected = rejected;
    if !ack.rejected.is_empty() {
        rex_observability::metrics().webhook_events(SENDGRID, "rejected", ack.rejected.len());
    }
    Ok(Json(ack))
}

/// Receive a Twilio status callback
///
/// A message's delivery status, form-encoded and signed with `X-Twilio-Signature`
/// (HMAC-SHA1 of the public URL and the sorted parameters, keyed by the auth token).
#[utoipa::path(
    post, path = "/v1/webhooks/{tenant}/twilio/status", tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback parameters"),
    params(
        ("tenant" = String, Path, description = "the tenant's slug"),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1"),
    ),
    responses(
        (status = 200, description = "taken", body = WebhookAck),
        (status = 400, description = "signed, but MessageSid or MessageStatus is missing", body = ErrorBody),
        (status = 401, description = "missing or forged signature", body = ErrorBody),
        (status = 404, description = "unknown tenant or no key configured", body = ErrorBody),
        (status = 503, description = "the inbox or the database is unavailable; retry", body = ErrorBody),
    ),
)]
#[tracing::instrument(name = "webhook.twilio_status", skip_all, fields(rex.tenant = %tenant))]
pub(crate) async fn twilio_status(
    State(state): State<ApiState>,
    ApiPath(tenant): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookAck>, ApiError> {
    let (url, params) = twilio_verified(&state, &tenant, &uri, &headers, body).await?;
    let callback = twilio::parse_status_callback(&url, &params).map_err(|e| refusal(&e))?;
    let status = serde_json::to_value(&callback.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "other".to_owned());
    let event_id = format!("{}:{status}", callback.message_sid);
    if !valid_event_id(&event_id) {
        return Err(too_long_id("MessageSid"));
    }
    let ack = hand_over(
        &state,
        &tenant,
        TWILIO_STATUS,
        vec![(event_id, to_value(&callback)?)],
    )
    .await?;
    Ok(Json(ack))
}

/// Receive an inbound text
///
/// A message sent to one of the tenant's numbers (a reply, STOP, START, HELP),
/// form-encoded and signed with `X-Twilio-Signature`. Answered with empty TwiML: no
/// automatic reply.
#[utoipa::path(
    post, path = "/v1/webhooks/{tenant}/twilio/inbound", tag = "webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's inbound message parameters"),
    params(
        ("tenant" = String, Path, description = "the tenant's slug"),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1"),
    ),
    responses(
        (status = 200, description = "taken; empty TwiML", body = String, content_type = "text/xml"),
        (status = 400, description = "signed, but MessageSid, From or To is missing", body = ErrorBody),
        (status = 401, description = "missing or forged signature", body = ErrorBody),
        (status = 404, description = "unknown tenant or no key configured", body = ErrorBody),
        (status = 503, description = "the inbox or the database is unavailable; retry", body = ErrorBody),
    ),
)]
#[tracing::instrument(name = "webhook.twilio_inbound", skip_all, fields(rex.tenant = %tenant))]
pub(crate) async fn twilio_inbound(
    State(state): State<ApiState>,
    ApiPath(tenant): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (_, params) = twilio_verified(&state, &tenant, &uri, &headers, body).await?;
    let sms = twilio::parse_inbound(&params).map_err(|e| refusal(&e))?;
    if !valid_event_id(&sms.message_sid) {
        return Err(too_long_id("MessageSid"));
    }
    hand_over(
        &state,
        &tenant,
        TWILIO_INBOUND,
        vec![(sms.message_sid.clone(), to_value(&sms)?)],
    )
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        EMPTY_TWIML,
    )
        .into_response())
}

/// Receive a Calendly event
///
/// `invitee.created` / `invitee.canceled`, signed with `Calendly-Webhook-Signature`
/// (`t=…,v1=…`, HMAC-SHA256 of `t.body`, 3 minutes' tolerance).
#[utoipa::path(
    post, path = "/v1/webhooks/{tenant}/calendly", tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "Calendly's webhook body, as signed"),
    params(
        ("tenant" = String, Path, description = "the tenant's slug"),
        ("Calendly-Webhook-Signature" = String, Header, description = "t=<unix>,v1=<hex>"),
    ),
    responses(
        (status = 200, description = "taken", body = WebhookAck),
        (status = 400, description = "signed, but not a Calendly event", body = ErrorBody),
        (status = 401, description = "missing, forged or stale signature", body = ErrorBody),
        (status = 404, description = "unknown tenant or no key configured", body = ErrorBody),
        (status = 503, description = "the inbox or the database is unavailable; retry", body = ErrorBody),
    ),
)]
#[tracing::instrument(name = "webhook.calendly", skip_all, fields(rex.tenant = %tenant))]
pub(crate) async fn calendly(
    State(state): State<ApiState>,
    ApiPath(tenant): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<WebhookAck>, ApiError> {
    let key = key(&state, &tenant, WebhookProvider::Calendly).await?;
    let body = body.map_err(body_error)?;
    calendly::CalendlyWebhookVerifier::new(key)
        .verify(
            header_text(&headers, calendly::SIGNATURE_HEADER)?,
            &body,
            Utc::now(),
        )
        .map_err(|e| refusal(&e))?;
    let event = calendly::parse_event(&body).map_err(|e| refusal(&e))?;
    let kind = match &event.kind {
        calendly::BookingEventKind::Created => "invitee.created",
        calendly::BookingEventKind::Canceled => "invitee.canceled",
        calendly::BookingEventKind::Other(name) => name.as_str(),
    };
    let event_id = format!("{kind}:{}", event.invitee_uri);
    if !valid_event_id(&event_id) {
        return Err(too_long_id("payload.uri"));
    }
    let ack = hand_over(
        &state,
        &tenant,
        CALENDLY,
        vec![(event_id, to_value(&event)?)],
    )
    .await?;
    Ok(Json(ack))
}

/// The tenant's key for `provider`, or 404 (an unknown tenant slug, or no key).
async fn key(
    state: &ApiState,
    tenant: &str,
    provider: WebhookProvider,
) -> Result<rex_adapters::Secret, ApiError> {
    let not_configured = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "webhook_not_configured",
            format!("no {provider} webhook is configured for this tenant"),
        )
        .at("tenant")
    };
    if !valid_tenant(tenant) {
        return Err(not_configured());
    }
    match state.webhook_secrets.key(tenant, provider).await {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(not_configured()),
        Err(e) => {
            tracing::warn!(error = %e, "webhook secrets unavailable");
            Err(ApiError::unavailable(
                "webhook keys are unavailable; try again",
            ))
        }
    }
}

/// The Twilio request's public URL and parameters, once its signature is checked.
async fn twilio_verified(
    state: &ApiState,
    tenant: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Vec<(String, String)>), ApiError> {
    let token = key(state, tenant, WebhookProvider::Twilio).await?;
    let body = body.map_err(body_error)?;
    let url = public_url(state, uri, headers)?;
    let params = twilio::parse_form(&body);
    twilio::verify_signature(
        &token,
        &url,
        &params,
        header_text(headers, twilio::SIGNATURE_HEADER)?,
    )
    .map_err(|e| refusal(&e))?;
    Ok((url, params))
}

/// The URL the provider called: `REX_PUBLIC_URL` (see `ApiConfig::public_url`) and the
/// request's path and query; without it, the `Host` header and the scheme the
/// deployment serves (`https` behind TLS).
fn public_url(state: &ApiState, uri: &Uri, headers: &HeaderMap) -> Result<String, ApiError> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if let Some(base) = &state.config.public_url {
        return Ok(format!("{}{path}", base.trim_end_matches('/')));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "the signed URL is unknown: no host header and no public URL configured",
            )
            .at("host")
        })?;
    let scheme = if state.config.behind_tls {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}{path}"))
}

/// A header as text; present but not visible ASCII is a malformed signature (401).
fn header_text<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                format!("malformed header {name}: not visible ASCII"),
            )
            .at(name.to_ascii_lowercase())
        }),
    }
}

fn too_long_id(field: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_event_id",
        "the event id must be 1 to 200 characters without control characters",
    )
    .at(field)
}

fn to_value<T: Serialize>(event: &T) -> Result<Value, ApiError> {
    serde_json::to_value(event).map_err(|e| {
        tracing::error!(error = %e, "serializing a webhook event");
        ApiError::internal()
    })
}

/// Records the receipts of `events` (id, parsed event), publishes the new ones to the
/// inbox, and answers what was taken. On a failed publish the new receipts are removed
/// and the answer is 503: nothing is half-taken, and the provider's retry is new.
async fn hand_over(
    state: &ApiState,
    tenant: &str,
    source: &'static str,
    events: Vec<(String, Value)>,
) -> Result<WebhookAck, ApiError> {
    let now = Utc::now();
    let ids: Vec<String> = events.iter().map(|(id, _)| id.clone()).collect();
    let fresh = webhooks::record_receipts(state.store.conn(), tenant, source, &ids, now).await?;
    let fresh_set: std::collections::HashSet<&str> = fresh.iter().map(String::as_str).collect();
    let mut batch = Vec::with_capacity(fresh.len());
    for (event_id, event) in events {
        if !fresh_set.contains(event_id.as_str()) {
            continue;
        }
        let inbox = InboxEvent {
            tenant: tenant.to_owned(),
            source: source.to_owned(),
            event_id,
            received_at: now,
            event,
        };
        batch.push(webhooks::to_message(&inbox).map_err(|e| {
            tracing::error!(error = %e, "serializing an inbox event");
            ApiError::internal()
        })?);
    }
    let accepted = batch.len();
    let duplicates = ids.len() - accepted;
    if let Err(e) = state.broker.publish(batch).await {
        tracing::warn!(error = %e, "handing webhook events to the inbox failed");
        if let Err(forget) =
            webhooks::forget_receipts(state.store.conn(), tenant, source, &fresh).await
        {
            tracing::error!(error = %forget, "removing the receipts of unpublished webhook events");
        }
        rex_observability::metrics().webhook_events(source, "unavailable", accepted);
        return Err(ApiError::unavailable("the inbox is unavailable; try again"));
    }
    let metrics = rex_observability::metrics();
    metrics.webhook_events(source, "accepted", accepted);
    metrics.webhook_events(source, "duplicate", duplicates);
    Ok(WebhookAck {
        accepted,
        duplicates,
        rejected: Vec::new(),
    })
}
