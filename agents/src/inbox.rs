//! The inbox consumer: provider events the API verified and deduplicated
//! (`rex-api`'s webhooks, published to the broker's `Destination::Inbox` as
//! `<source>:<event id>`) → the lead they concern → `outreach.handle_event`'s code
//! ([`Events::handle`]): the ledger entry, the suppression, the `lead.*` signal.
//!
//! The lead is found by what each provider carries: Calendly's `utm_content` (the
//! lead's CRM id), Rex's message id (SendGrid `custom_args`, Twilio's callback URL),
//! the provider's message id (`X-Message-Id`, `MessageSid`), the sender's phone (an
//! inbound text), and last the address (`email`). An event about no known lead is
//! acked and counted `unmatched`.
//!
//! Acked after success; a transient failure (database, engine) is handed back after a
//! pause (the queue's delivery limit dead-letters it eventually); an unreadable
//! envelope or a permanent refusal is dead-lettered at once with its reason.
//! Counted in `rex_webhook_events_total{source, outcome}`.
//!
//! Unlike the rest of this crate it talks to the broker: it is a consumer, not an agent.

use std::sync::Arc;
use std::time::Duration;

use rex_broker::{Broker, BrokerError, Delivery, Destination};
use rex_domain_store::{
    get_lead, lead_by_email, lead_by_external_id, lead_by_phone, message_by_provider_id,
    message_by_step_key,
};
use rex_store::Store;
use rex_workers::StepError;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::events::Events;
use crate::store_error;

/// Pause before a transiently failed event is handed back.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// The envelope `rex-api` publishes.
pub use rex_domain::inbox::InboxEvent;

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handed to `handle_event`.
    Processed,
    /// No lead of the tenant matches it: acked, nothing recorded.
    Unmatched,
}

/// How to find the lead an event concerns, strongest first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct LeadKeys {
    external_id: Option<String>,
    step_key: Option<String>,
    provider_message_id: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// The lead, as `handle_event` names it, and the message the event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    lead_id: String,
    message_id: Option<Uuid>,
}

/// Consumes the inbox and processes each event with [`Events`].
#[derive(Clone)]
pub struct Inbox {
    store: Store,
    events: Events,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn owned(v: &Value, key: &str) -> Option<String> {
    str_of(v, key).map(str::to_owned)
}

/// The lead keys an event carries. Pure.
fn lead_keys(env: &InboxEvent) -> LeadKeys {
    let e = &env.event;
    match env.source.as_str() {
        "sendgrid" => LeadKeys {
            step_key: owned(e, "message_id"),
            provider_message_id: str_of(e, "sg_message_id")
                .and_then(|id| id.split('.').next())
                .map(str::to_owned),
            email: owned(e, "email"),
            ..LeadKeys::default()
        },
        "twilio" => LeadKeys {
            step_key: owned(e, "message_id"),
            provider_message_id: owned(e, "message_sid"),
            phone: owned(e, "to"),
            ..LeadKeys::default()
        },
        "inbound_sms" => LeadKeys {
            phone: owned(e, "from"),
            ..LeadKeys::default()
        },
        "calendly" => LeadKeys {
            external_id: owned(e, "tracking"),
            email: owned(e, "email"),
            ..LeadKeys::default()
        },
        _ => LeadKeys::default(),
    }
}

/// A status as the adapters serialize it: `"delivered"`, or `{"other": "…"}`.
fn status_name(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .values()
            .next()
            .and_then(Value::as_str)
            .unwrap_or("other")
            .to_owned(),
        _ => "other".to_owned(),
    }
}

/// The `outreach.handle_event` input for `env` about `lead`. Pure.
fn handle_input(env: &InboxEvent, lead: &Resolved) -> Result<Map<String, Value>, String> {
    let e = &env.event;
    let mut event = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            event.insert(k.to_owned(), v);
        }
    };
    put("id", json!(env.event_id));
    put("lead_id", json!(lead.lead_id));
    put("message_id", json!(lead.message_id.map(|m| m.to_string())));
    let kind = match env.source.as_str() {
        "sendgrid" => {
            let kind = e.get("kind").ok_or("sendgrid event without kind")?;
            let name = str_of(kind, "type").ok_or("sendgrid event kind without type")?;
            put("channel", json!("email"));
            put("address", json!(str_of(e, "email")));
            put("at", e.get("timestamp").cloned().unwrap_or(Value::Null));
            put(
                "provider_message_id",
                json!(str_of(e, "sg_message_id").and_then(|id| id.split('.').next())),
            );
            match name {
                "bounce" => {
                    let hard = str_of(kind, "bounce_type") != Some("blocked");
                    put("bounce_type", json!(if hard { "hard" } else { "soft" }));
                    put("reason", kind.get("reason").cloned().unwrap_or(Value::Null));
                    "bounce".to_owned()
                }
                "spam_report" => "complaint".to_owned(),
                "unsubscribe" | "group_unsubscribe" => "unsubscribe".to_owned(),
                "other" => str_of(kind, "name").unwrap_or("other").to_owned(),
                other => other.to_owned(),
            }
        }
        "twilio" => {
            put("channel", json!("sms"));
            put("address", json!(str_of(e, "to")));
            put("provider_message_id", json!(str_of(e, "message_sid")));
            // Twilio 21610: the recipient opted out; suppress like a STOP.
            if str_of(e, "error_code") == Some("21610") {
                "unsubscribe".to_owned()
            } else {
                status_name(e.get("status"))
            }
        }
        "inbound_sms" => {
            put("channel", json!("sms"));
            put("address", json!(str_of(e, "from")));
            put("at", json!(env.received_at));
            // Twilio's Advanced Opt-Out may have seen a STOP our rules would not.
            let text = if str_of(e, "keyword") == Some("stop") {
                "STOP".to_owned()
            } else {
                str_of(e, "body").unwrap_or_default().to_owned()
            };
            put("text", json!(text));
            "sms_inbound".to_owned()
        }
        "calendly" => {
            put("channel", json!("email"));
            put("address", json!(str_of(e, "email")));
            put("at", e.get("created_at").cloned().unwrap_or(Value::Null));
            match e.get("kind") {
                Some(Value::String(k)) if k == "created" => {
                    put("event_uri", json!(str_of(e, "scheduled_event_uri")));
                    put(
                        "start_time",
                        e.get("start_time").cloned().unwrap_or(Value::Null),
                    );
                    "booking".to_owned()
                }
                Some(Value::String(k)) if k == "canceled" => "booking_canceled".to_owned(),
                other => format!("calendly_{}", status_name(other)),
            }
        }
        other => return Err(format!("unknown source {other:?}")),
    };
    event.insert("kind".into(), json!(kind));
    let mut input = Map::new();
    input.insert("tenant".into(), json!(env.tenant));
    input.insert("source".into(), json!(env.source));
    input.insert("event".into(), Value::Object(event));
    Ok(input)
}

impl Inbox {
    /// `events` must be built on `store` (as `outreach`'s `handle_event` is).
    pub fn new(store: Store, events: Events) -> Self {
        Self { store, events }
    }

    /// Processes one envelope. `Err` carries whether trying again may help.
    pub async fn process(&self, body: &[u8]) -> Result<Outcome, StepError> {
        let env: InboxEvent = serde_json::from_slice(body)
            .map_err(|e| StepError::permanent(format!("unreadable inbox envelope: {e}")))?;
        let span = tracing::Span::current();
        span.record("rex.webhook.source", env.source.as_str());
        span.record("rex.tenant", env.tenant.as_str());
        let Some(lead) = self.resolve(&env).await? else {
            tracing::info!(source = %env.source, "inbox event about no known lead");
            return Ok(Outcome::Unmatched);
        };
        let input = handle_input(&env, &lead).map_err(StepError::permanent)?;
        self.events.handle(&input).await?;
        Ok(Outcome::Processed)
    }

    async fn resolve(&self, env: &InboxEvent) -> Result<Option<Resolved>, StepError> {
        let conn = self.store.conn();
        let Some(tenant) = rex_domain_store::tenant_by_slug(conn, &env.tenant)
            .await
            .map_err(|e| store_error("tenant", &e))?
        else {
            return Ok(None);
        };
        let tenant = tenant.id;
        let keys = lead_keys(env);
        let err = |e| store_error("lead lookup", &e);
        if let Some(id) = &keys.external_id
            && let Some(lead) = lead_by_external_id(conn, tenant, id).await.map_err(err)?
        {
            return Ok(Some(Resolved {
                lead_id: lead.external_id,
                message_id: None,
            }));
        }
        let mut message = None;
        if let Some(key) = &keys.step_key {
            message = message_by_step_key(conn, tenant, key).await.map_err(err)?;
        }
        if message.is_none()
            && let Some(id) = &keys.provider_message_id
        {
            message = message_by_provider_id(conn, tenant, id)
                .await
                .map_err(err)?;
        }
        if let Some(m) = message
            && let Some(lead) = get_lead(conn, tenant, m.lead_id).await.map_err(err)?
        {
            return Ok(Some(Resolved {
                lead_id: lead.external_id,
                message_id: Some(m.id),
            }));
        }
        let lead = match (&keys.phone, &keys.email) {
            (Some(phone), _) if env.source != "sendgrid" => {
                lead_by_phone(conn, tenant, phone).await.map_err(err)?
            }
            (_, Some(email)) => lead_by_email(conn, tenant, email).await.map_err(err)?,
            _ => None,
        };
        Ok(lead.map(|l| Resolved {
            lead_id: l.external_id,
            message_id: None,
        }))
    }

    /// Consumes the inbox until `shutdown`, `concurrency` events at a time.
    pub async fn run(
        self,
        broker: Arc<dyn Broker>,
        concurrency: u16,
        shutdown: CancellationToken,
    ) -> Result<(), BrokerError> {
        let concurrency = concurrency.max(1);
        let mut consumer = broker.consume(Destination::Inbox, concurrency).await?;
        let permits = Arc::new(Semaphore::new(usize::from(concurrency)));
        tracing::info!(concurrency, "inbox consumer started");
        loop {
            let delivery = tokio::select! {
                () = shutdown.cancelled() => break,
                next = consumer.next() => match next {
                    Some(d) => d,
                    None => break,
                },
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let inbox = self.clone();
            tokio::spawn(async move {
                inbox.settle(delivery).await;
                drop(permit);
            });
        }
        consumer.close().await;
        tracing::info!("inbox consumer stopped");
        Ok(())
    }

    async fn settle(&self, delivery: Delivery) {
        let span = tracing::info_span!(
            "inbox.event",
            otel.name = "inbox.event",
            rex.message.id = %delivery.message.id,
            rex.delivery_count = i64::from(delivery.delivery_count),
            rex.webhook.source = tracing::field::Empty,
            rex.tenant = tracing::field::Empty,
            rex.credentials = tracing::field::Empty,
            rex.lead = tracing::field::Empty,
            rex.address_hash = tracing::field::Empty,
        );
        async {
            let source = delivery
                .message
                .headers
                .get("source")
                .cloned()
                .unwrap_or_default();
            let metrics = rex_observability::metrics();
            let settled = match self.process(&delivery.message.body).await {
                Ok(outcome) => {
                    let name = match outcome {
                        Outcome::Processed => "processed",
                        Outcome::Unmatched => "unmatched",
                    };
                    metrics.webhook_events(&source, name, 1);
                    delivery.ack().await
                }
                Err(e) if e.retryable => {
                    let error = rex_observability::redact_pii(&e.message);
                    tracing::warn!(%error, "inbox event failed; handing it back");
                    metrics.webhook_events(&source, "retried", 1);
                    tokio::time::sleep(RETRY_PAUSE).await;
                    delivery.nack(true).await
                }
                Err(e) => {
                    let error = rex_observability::redact_pii(&e.message);
                    tracing::error!(%error, "inbox event refused; dead-lettering it");
                    metrics.webhook_events(&source, "dead_lettered", 1);
                    delivery.dead_letter(&e.message).await
                }
            };
            if let Err(e) = settled {
                // The broker redelivers it; handle_event is idempotent.
                tracing::warn!(error = %e, "settling an inbox event failed");
            }
        }
        .instrument(span)
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(source: &str, event: Value) -> InboxEvent {
        InboxEvent {
            tenant: "acme".into(),
            source: source.into(),
            event_id: "ev-1".into(),
            received_at: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            event,
        }
    }

    fn lead() -> Resolved {
        Resolved {
            lead_id: "crm-7".into(),
            message_id: None,
        }
    }

    #[test]
    fn a_sendgrid_hard_bounce_becomes_a_suppressing_bounce() {
        let e = env(
            "sendgrid",
            json!({"sg_event_id": "ev-1", "sg_message_id": "X1.filter0", "message_id": "m:s",
                   "email": "lee@acme.example", "timestamp": "2027-01-15T08:00:00Z",
                   "kind": {"type": "bounce", "bounce_type": "bounce", "reason": "550"}}),
        );
        let keys = lead_keys(&e);
        assert_eq!(keys.step_key.as_deref(), Some("m:s"));
        assert_eq!(keys.provider_message_id.as_deref(), Some("X1"));
        assert_eq!(keys.email.as_deref(), Some("lee@acme.example"));
        let input = handle_input(&e, &lead()).unwrap();
        assert_eq!(input["source"], "sendgrid");
        assert_eq!(input["tenant"], "acme");
        let ev = &input["event"];
        assert_eq!(ev["kind"], "bounce");
        assert_eq!(ev["bounce_type"], "hard");
        assert_eq!(ev["address"], "lee@acme.example");
        assert_eq!(ev["lead_id"], "crm-7");
        assert_eq!(ev["id"], "ev-1");
    }

    #[test]
    fn blocked_spam_reports_and_unsubscribes_map_to_handle_event_kinds() {
        let kind = |k: Value| {
            let e = env("sendgrid", json!({"email": "a@b.c", "kind": k}));
            handle_input(&e, &lead()).unwrap()["event"].clone()
        };
        let blocked = kind(json!({"type": "bounce", "bounce_type": "blocked"}));
        assert_eq!(blocked["bounce_type"], "soft");
        assert_eq!(kind(json!({"type": "spam_report"}))["kind"], "complaint");
        assert_eq!(
            kind(json!({"type": "group_unsubscribe"}))["kind"],
            "unsubscribe"
        );
        assert_eq!(kind(json!({"type": "open"}))["kind"], "open");
    }

    #[test]
    fn twilio_opt_outs_and_inbound_stops_suppress_the_number() {
        let status = env(
            "twilio",
            json!({"message_sid": "SM1", "status": "undelivered", "error_code": "21610",
                   "to": "+15005550006", "message_id": "m:s"}),
        );
        let ev = handle_input(&status, &lead()).unwrap()["event"].clone();
        assert_eq!(ev["kind"], "unsubscribe");
        assert_eq!(ev["address"], "+15005550006");
        assert_eq!(ev["channel"], "sms");
        let delivered = env(
            "twilio",
            json!({"message_sid": "SM1", "status": "delivered"}),
        );
        assert_eq!(
            handle_input(&delivered, &lead()).unwrap()["event"]["kind"],
            "delivered"
        );
        let inbound = env(
            "inbound_sms",
            json!({"message_sid": "SM2", "from": "+15005550006", "to": "+1500",
                   "body": "please stop", "keyword": "stop"}),
        );
        assert_eq!(lead_keys(&inbound).phone.as_deref(), Some("+15005550006"));
        let ev = handle_input(&inbound, &lead()).unwrap()["event"].clone();
        assert_eq!(ev["kind"], "sms_inbound");
        assert_eq!(ev["text"], "STOP");
    }

    #[test]
    fn a_calendly_booking_names_the_lead_from_its_tracking() {
        let e = env(
            "calendly",
            json!({"kind": "created", "invitee_uri": "https://x/I1", "tracking": "crm-7",
                   "email": "lee@acme.example", "scheduled_event_uri": "https://x/E1",
                   "start_time": "2027-01-20T09:00:00Z"}),
        );
        assert_eq!(lead_keys(&e).external_id.as_deref(), Some("crm-7"));
        let ev = handle_input(&e, &lead()).unwrap()["event"].clone();
        assert_eq!(ev["kind"], "booking");
        assert_eq!(ev["event_uri"], "https://x/E1");
        let canceled = env("calendly", json!({"kind": "canceled"}));
        assert_eq!(
            handle_input(&canceled, &lead()).unwrap()["event"]["kind"],
            "booking_canceled"
        );
    }

    #[test]
    fn an_unknown_source_is_refused() {
        assert!(handle_input(&env("fax", json!({})), &lead()).is_err());
        assert_eq!(lead_keys(&env("fax", json!({}))), LeadKeys::default());
    }
}
