//! Provider webhooks, the parts that are not HTTP: the verification keys
//! ([`secrets`]), the envelope an accepted event travels in to the inbox queue, the
//! receipts that deduplicate provider retries, and the mapping of a verifier's
//! refusal to an API error. The handlers are in `routes::webhooks`.

pub mod secrets;
pub mod tenant_keys;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rex_adapters::WebhookError;
use rex_broker::{Destination, Message};
use rex_store::StoreError;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::error::ApiError;

/// The inbox sources, as `outreach.handle_event` names them.
pub const SENDGRID: &str = "sendgrid";
pub const TWILIO_STATUS: &str = "twilio";
pub const TWILIO_INBOUND: &str = "inbound_sms";
pub const CALENDLY: &str = "calendly";

/// Longest provider event id kept: the message id `<source>:<id>` must fit an AMQP
/// short string (255 bytes).
pub const MAX_EVENT_ID: usize = 200;
/// Rows per receipts statement: well under SQLite's and PostgreSQL's bind limits
/// (4 binds a row). A SendGrid batch is normally one statement.
const RECEIPTS_PER_STATEMENT: usize = 2_000;
const RECEIPTS: &str = "webhook_receipts";

pub use rex_domain::inbox::InboxEvent;

/// The inbox queue's message carrying `event`, with its tenant and source as headers.
pub fn to_message(event: &InboxEvent) -> Result<(Destination, Message), serde_json::Error> {
    let body = serde_json::to_vec(event)?;
    let message = Message::new(event.message_id(), body)
        .with_header("tenant", event.tenant.clone())
        .with_header("source", event.source.clone());
    Ok((Destination::Inbox, message))
}

/// A tenant slug as `tenants.slug` allows it: 1 to 63 of `a-z`, `0-9`, `-`.
pub fn valid_tenant(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A provider event id we can carry: 1 to [`MAX_EVENT_ID`] bytes, no control characters.
pub fn valid_event_id(id: &str) -> bool {
    (1..=MAX_EVENT_ID).contains(&id.len()) && !id.chars().any(char::is_control)
}

/// A verifier's refusal: 401 for anything about authenticity (missing or malformed
/// signature headers, a mismatch, a stale or future timestamp), 400 for a signed body
/// we cannot read. The header or field at fault is named.
pub fn refusal(err: &WebhookError) -> ApiError {
    match err {
        WebhookError::MissingHeader(h) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            err.to_string(),
        )
        .at(h.to_ascii_lowercase()),
        WebhookError::MalformedHeader { header, .. } => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            err.to_string(),
        )
        .at(header.to_ascii_lowercase()),
        WebhookError::SignatureMismatch => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            err.to_string(),
        ),
        WebhookError::TimestampTooOld { .. } | WebhookError::TimestampInFuture { .. } => {
            ApiError::new(StatusCode::UNAUTHORIZED, "stale_signature", err.to_string())
        }
        WebhookError::InvalidKey(_) => {
            // Our configuration, not the caller's request: the provider should retry
            // once it is fixed.
            tracing::error!(error = %err, "webhook verification key unusable");
            ApiError::unavailable("the webhook verification key is misconfigured")
        }
        WebhookError::MalformedBody(_) => {
            ApiError::bad_request("malformed_body", err.to_string()).at("body")
        }
        WebhookError::MissingField(f) => {
            ApiError::bad_request("missing_field", err.to_string()).at(*f)
        }
    }
}

/// Records receipts for `ids` of `(tenant, source)` and answers the ones that are new
/// (not received before). One `INSERT … ON CONFLICT DO NOTHING RETURNING` per
/// [`RECEIPTS_PER_STATEMENT`] ids, all in one transaction.
pub async fn record_receipts(
    conn: &DatabaseConnection,
    tenant: &str,
    source: &str,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    use sea_orm::TransactionTrait;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let now = rex_store::to_db_precision(now);
    let txn = conn.begin().await?;
    let mut fresh = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(RECEIPTS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new(RECEIPTS)).columns([
            Alias::new("tenant"),
            Alias::new("source"),
            Alias::new("event_id"),
            Alias::new("received_at"),
        ]);
        for id in chunk {
            insert
                .values([tenant.into(), source.into(), id.as_str().into(), now.into()])
                .map_err(|e| StoreError::Db(sea_orm::DbErr::Custom(e.to_string())))?;
        }
        insert
            .on_conflict(
                OnConflict::columns([
                    Alias::new("tenant"),
                    Alias::new("source"),
                    Alias::new("event_id"),
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning_col(Alias::new("event_id"));
        let rows = txn.query_all(&insert).await?;
        for row in rows {
            fresh.push(row.try_get::<String>("", "event_id")?);
        }
    }
    txn.commit().await?;
    Ok(fresh)
}

/// Removes the receipts of `ids` again: their hand-over failed, and the provider's
/// retry must be taken as new.
pub async fn forget_receipts(
    conn: &DatabaseConnection,
    tenant: &str,
    source: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    for chunk in ids.chunks(RECEIPTS_PER_STATEMENT) {
        let delete = Query::delete()
            .from_table(Alias::new(RECEIPTS))
            .and_where(Expr::col(Alias::new("tenant")).eq(tenant))
            .and_where(Expr::col(Alias::new("source")).eq(source))
            .and_where(Expr::col(Alias::new("event_id")).is_in(chunk.iter().map(String::as_str)))
            .to_owned();
        conn.execute(&delete).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_slugs_follow_the_tenants_table() {
        assert!(valid_tenant("acme"));
        assert!(valid_tenant("acme-2"));
        assert!(!valid_tenant(""));
        assert!(!valid_tenant("Acme"));
        assert!(!valid_tenant("a_b"));
        assert!(!valid_tenant(&"a".repeat(64)));
    }

    #[test]
    fn event_ids_must_fit_a_message_id() {
        assert!(valid_event_id("sg-1"));
        assert!(!valid_event_id(""));
        assert!(!valid_event_id("a\nb"));
        assert!(!valid_event_id(&"x".repeat(MAX_EVENT_ID + 1)));
        let event = InboxEvent {
            tenant: "acme".into(),
            source: CALENDLY.into(),
            event_id: "x".repeat(MAX_EVENT_ID),
            received_at: Utc::now(),
            event: serde_json::Value::Null,
        };
        let (destination, message) = to_message(&event).unwrap();
        assert_eq!(destination, Destination::Inbox);
        assert!(message.id.len() <= 255);
        assert_eq!(message.headers["tenant"], "acme");
        let back: InboxEvent = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn authenticity_failures_are_401_and_body_failures_400() {
        let cases = [
            (WebhookError::MissingHeader("X-Twilio-Signature"), 401),
            (WebhookError::SignatureMismatch, 401),
            (
                WebhookError::TimestampTooOld {
                    age_secs: 900,
                    tolerance_secs: 300,
                },
                401,
            ),
            (WebhookError::MalformedBody("not json".into()), 400),
            (WebhookError::MissingField("MessageSid"), 400),
            (WebhookError::InvalidKey("bad".into()), 503),
        ];
        for (err, status) in cases {
            assert_eq!(refusal(&err).status.as_u16(), status, "{err}");
        }
        assert_eq!(
            refusal(&WebhookError::MissingHeader("X-Twilio-Signature"))
                .field
                .as_deref(),
            Some("x-twilio-signature")
        );
    }
}
