//! `outreach.handle_event`: one inbound event (a provider webhook, a reply, an inbound
//! text, a booking) → a ledger entry and a `lead.*` signal to the lead's running
//! missions (docs/agents.md, "Signals the sequence listens to").
//!
//! Input: `{"tenant"?, "source": "sendgrid" | "twilio" | "inbound_email" | "inbound_sms"
//! | "calendly", "event": {"kind", "id", "lead_id", "channel"?, "address"?, "text"?,
//! "at"?, "message_id"?, "bounce_type"?, "reason"?, "timezone"?, "event_uri"?,
//! "start_time"?}}` with `kind` one of `reply`, `sms_inbound`, `bounce`, `complaint`,
//! `unsubscribe`, `booking`, or a delivery status (`delivered`, `open`…) that is only
//! recorded.
//!
//! Reply classification takes the decision layers cheapest first (`crate::decisions`):
//! STOP keywords and explicit unsubscribes by rule, then the LLM when configured
//! (validated, cached), then the deterministic classifier; the output names the
//! `layer` and `rule` that decided.
//!
//! Idempotent: the event is recorded once per (source, id) with
//! `record_delivery_event`, the ledger write is an upsert, and the signal's id is
//! `<source>:<id>`, which the engine takes once per mission. A repeat therefore runs
//! the same (harmless) steps again rather than skipping them, so that an attempt that
//! stopped between the record and the publish still gets its signal out on the retry.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rex_adapters::clock::Clock;
use rex_domain::Channel;
use rex_domain::channel::parse_tz;
use rex_domain::outreach::SuppressionReason;
use rex_domain::replies::{Classification, ReplyCategory, classify, is_sms_stop};
use rex_domain_store::{
    NewDeliveryEvent, NewSuppression, Suppressed, address_hash, record_delivery_event, suppress,
};
use rex_engine::Engine;
use rex_store::Store;
use rex_workers::StepError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::credentials::{Source, TenantProviders};
use crate::decisions::{Classified, ReplyClassifier};
use crate::input::{Obj, bad, parse, text};
use crate::store_error;

/// Days an out-of-office without a usable return date pauses (`pause_on_out_of_office`).
const OUT_OF_OFFICE_DEFAULT_DAYS: i64 = 7;
/// Characters of a reply kept in `lead.replied`'s `text_excerpt`.
const EXCERPT_CHARS: usize = 200;
const SOURCES: &[&str] = &[
    "sendgrid",
    "twilio",
    "inbound_email",
    "inbound_sms",
    "calendly",
];

/// The `handle_event` action: the store for the ledger, the engine for the signals.
#[derive(Clone)]
pub struct Events {
    store: Store,
    engine: Engine,
    clock: Arc<dyn Clock>,
    default_tenant: String,
    classifier: Arc<ReplyClassifier>,
    /// Each tenant's LLM for the classifier (`crate::credentials`), when set.
    tenants: Option<TenantProviders>,
    /// A classifier per tenant that stored LLM credentials, with the client it wraps
    /// (a new client after the credentials' TTL makes a new classifier).
    per_tenant: Arc<Mutex<TenantClassifiers>>,
}

type TenantClassifiers = HashMap<String, (Arc<rex_adapters::llm::LlmClient>, Arc<ReplyClassifier>)>;

/// What the event decides, before any IO.
#[derive(Debug, Default, PartialEq)]
struct Decision {
    suppress: Option<SuppressionReason>,
    signal: Option<(&'static str, Value)>,
    classification: Option<Classification>,
}

impl Events {
    pub fn new(store: Store, engine: Engine, clock: Arc<dyn Clock>, default_tenant: &str) -> Self {
        Self {
            store,
            engine,
            clock,
            default_tenant: default_tenant.to_owned(),
            classifier: Arc::new(ReplyClassifier::new(None)),
            tenants: None,
            per_tenant: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Classifies a tenant's replies with the LLM credentials it stored, if any (else
    /// with the classifier of [`Events::with_llm`]).
    pub fn with_tenant_credentials(mut self, tenants: TenantProviders) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The classifier for the event's tenant. A tenant whose stored LLM credentials
    /// cannot be used gets the rules and the deterministic classifier only (logged),
    /// never the operator's LLM: handling the event (suppression, stop signals)
    /// matters more than its LLM classification.
    async fn classifier_for(&self, obj: &Obj) -> Result<Arc<ReplyClassifier>, StepError> {
        let Some(tenants) = &self.tenants else {
            return Ok(self.classifier.clone());
        };
        let slug = text(obj, "input", "tenant")?.unwrap_or_else(|| self.default_tenant.clone());
        let set = tenants.for_slug(&slug).await?;
        let llm = match set.llm.get() {
            Ok((Source::Tenant, Some(llm))) => llm,
            Ok((source, _)) => {
                crate::credentials::record_source(source);
                return Ok(self.classifier.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "tenant llm unusable: replies classified without an llm");
                return Ok(Arc::new(ReplyClassifier::new(None)));
            }
        };
        crate::credentials::record_source(Source::Tenant);
        let mut per_tenant = self.per_tenant.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((held, classifier)) = per_tenant.get(&slug)
            && Arc::ptr_eq(held, &llm)
        {
            return Ok(classifier.clone());
        }
        let classifier = Arc::new(ReplyClassifier::shared(Some(llm.clone())));
        per_tenant.insert(slug, (llm, classifier.clone()));
        Ok(classifier)
    }

    /// Classifies replies with `llm` between the rules and the fallback (`None`: rules
    /// and the deterministic classifier only).
    pub fn with_llm(mut self, llm: Option<rex_adapters::llm::LlmClient>) -> Self {
        self.classifier = Arc::new(ReplyClassifier::new(llm));
        self
    }

    /// Publishes `name` to the running missions of tenant `slug` (and the operator's)
    /// listening on `lead:<lead_id>`, once per mission for `signal_id`; the missions it
    /// reached. Another tenant's lead with the same CRM id is never reached.
    pub(crate) async fn signal_lead(
        &self,
        slug: &str,
        lead_id: &str,
        name: &str,
        payload: Value,
        signal_id: &str,
    ) -> Result<Vec<uuid::Uuid>, StepError> {
        self.engine
            .publish_tenant_event(slug, &format!("lead:{lead_id}"), name, payload, signal_id)
            .await
            .map_err(|e| {
                let message = format!("publishing {name}: {e}");
                if e.is_retryable() {
                    StepError::retryable(message)
                } else {
                    StepError::permanent(message)
                }
            })
    }

    pub(crate) async fn handle(&self, obj: &Obj) -> Result<Value, StepError> {
        let now = self.clock.now();
        let source =
            text(obj, "input", "source")?.ok_or_else(|| bad("input.source", "required"))?;
        if !SOURCES.contains(&source.as_str()) {
            return Err(bad(
                "input.source",
                format!("unknown source {source:?} (known: {})", SOURCES.join(", ")),
            ));
        }
        let event = match obj.get("event") {
            Some(Value::Object(e)) => e,
            _ => return Err(bad("input.event", "required (an object)")),
        };
        let kind = text(event, "input.event", "kind")?
            .ok_or_else(|| bad("input.event.kind", "required"))?;
        let event_id = text(event, "input.event", "id")?
            .ok_or_else(|| bad("input.event.id", "required (the provider event id)"))?;
        let lead_id = text(event, "input.event", "lead_id")?
            .ok_or_else(|| bad("input.event.lead_id", "required"))?;
        let at = parse::<DateTime<Utc>>(event, "input.event", "at")?.unwrap_or(now);
        let address = text(event, "input.event", "address")?;
        let channel = parse::<Channel>(event, "input.event", "channel")?.unwrap_or(
            if matches!(kind.as_str(), "sms_inbound") || source.ends_with("sms") {
                Channel::Sms
            } else {
                Channel::Email
            },
        );
        let hash = address.as_deref().map(address_hash);
        let span = tracing::Span::current();
        span.record("rex.lead", lead_id.as_str());
        if let Some(h) = &hash {
            span.record("rex.address_hash", h.as_str());
        }

        let classified = match kind.as_str() {
            "reply" | "sms_inbound" => {
                let body = text(event, "input.event", "text")?.unwrap_or_default();
                let classifier = self.classifier_for(obj).await?;
                Some(classifier.classify(&body, at.date_naive(), &[]).await)
            }
            _ => None,
        };
        let decision = decide(&kind, event, at, classified.as_ref())?;
        let tenant = crate::tenant_id(&self.store, obj, &self.default_tenant, now).await?;
        let message_id = text(event, "input.event", "message_id")?;
        let new = record_delivery_event(
            self.store.conn(),
            &NewDeliveryEvent {
                tenant_id: tenant,
                provider: source.clone(),
                provider_event_id: event_id.clone(),
                message_id: message_id.as_deref().and_then(|m| m.parse().ok()),
                provider_message_id: text(event, "input.event", "provider_message_id")?,
                kind: kind.clone(),
                address_hash: hash.clone(),
                payload: recorded_payload(&lead_id, &kind, event, decision.classification.as_ref()),
                occurred_at: at,
                received_at: now,
            },
        )
        .await
        .map_err(|e| store_error("delivery event", &e))?;

        let mut ledger = Value::Null;
        if let Some(reason) = decision.suppress {
            let address = address.as_deref().ok_or_else(|| {
                bad(
                    "input.event.address",
                    "required for an event that suppresses",
                )
            })?;
            let done = suppress(
                self.store.conn(),
                &NewSuppression {
                    tenant_id: tenant,
                    channel,
                    address: address.to_owned(),
                    reason,
                    source_event: format!("{source}:{event_id}"),
                    at,
                },
            )
            .await
            .map_err(|e| store_error("suppression", &e))?;
            let state = match done {
                Suppressed::New(_) => "new",
                Suppressed::Existing(_) => "existing",
                Suppressed::Reinstated(_) => "reinstated",
            };
            ledger = json!({"reason": reason, "channel": channel, "entry": state});
        }

        let mut reached = Vec::new();
        let signal = match decision.signal {
            Some((name, payload)) => {
                let slug =
                    text(obj, "input", "tenant")?.unwrap_or_else(|| self.default_tenant.clone());
                reached = self
                    .signal_lead(
                        &slug,
                        &lead_id,
                        name,
                        payload,
                        &format!("{source}:{event_id}"),
                    )
                    .await?;
                Value::from(name)
            }
            None => Value::Null,
        };
        tracing::info!(
            kind = %kind,
            duplicate = !new,
            signal = %signal,
            missions = reached.len(),
            "inbound event handled"
        );
        Ok(json!({
            "lead_id": lead_id,
            "kind": kind,
            "duplicate": !new,
            "classification": decision.classification,
            "layer": classified.as_ref().map(|c| crate::decisions::metric_layer(c.layer).as_str()),
            "rule": classified.as_ref().map(|c| c.rule),
            "suppression": ledger,
            "signal": signal,
            "missions": reached.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))
    }
}

/// What the delivery event row keeps for reporting (`rex_domain_store::event_kind`):
/// whether a reply was positive (interested, or a referral to the right person), a
/// bounce's type.
fn recorded_payload(
    lead_id: &str,
    kind: &str,
    event: &Obj,
    classification: Option<&Classification>,
) -> Value {
    let mut payload = json!({"lead_id": lead_id, "kind": kind});
    if let Some(c) = classification {
        payload["positive"] = Value::Bool(matches!(
            c.category,
            ReplyCategory::Interested | ReplyCategory::Referral { .. }
        ));
        payload["category"] = serde_json::to_value(&c.category).unwrap_or(Value::Null);
    }
    if let Some(t) = event.get("bounce_type") {
        payload["bounce_type"] = t.clone();
    }
    payload
}

/// The ledger entry and signal an event calls for (docs/agents.md), pure.
/// `classified`: the reply's layered classification, when one was made; without it the
/// deterministic classifier decides.
fn decide(
    kind: &str,
    event: &Obj,
    at: DateTime<Utc>,
    classified: Option<&Classified>,
) -> Result<Decision, StepError> {
    let message_id = event.get("message_id").cloned().unwrap_or(Value::Null);
    let body = || text(event, "input.event", "text").map(Option::unwrap_or_default);
    let classification = |text: &str| match classified {
        Some(c) => c.classification.clone(),
        None => classify(text, at.date_naive()),
    };
    Ok(match kind {
        "reply" => {
            let text = body()?;
            let zone = text_zone(event)?;
            reply(classification(&text), &text, message_id, at, zone)
        }
        "sms_inbound" => {
            let text = body()?;
            if is_sms_stop(&text) {
                Decision {
                    suppress: Some(SuppressionReason::SmsStop),
                    signal: Some(("lead.stop", json!({"body": text}))),
                    classification: None,
                }
            } else {
                let zone = text_zone(event)?;
                reply(classification(&text), &text, message_id, at, zone)
            }
        }
        "bounce" => {
            let hard = text(event, "input.event", "bounce_type")?.is_none_or(|t| t == "hard");
            if hard {
                let reason = event.get("reason").cloned().unwrap_or(Value::Null);
                Decision {
                    suppress: Some(SuppressionReason::HardBounce),
                    signal: Some((
                        "lead.bounced",
                        json!({"message_id": message_id, "reason": reason}),
                    )),
                    classification: None,
                }
            } else {
                Decision::default()
            }
        }
        "complaint" | "spamreport" => Decision {
            suppress: Some(SuppressionReason::Complaint),
            signal: Some(("lead.complained", json!({"message_id": message_id}))),
            classification: None,
        },
        "unsubscribe" => Decision {
            suppress: Some(SuppressionReason::Unsubscribe),
            signal: Some((
                "lead.unsubscribed",
                json!({"source": "provider", "message_id": message_id}),
            )),
            classification: None,
        },
        "booking" => Decision {
            signal: Some((
                "lead.booked",
                json!({
                    "event_uri": event.get("event_uri").cloned().unwrap_or(Value::Null),
                    "start_time": event.get("start_time").cloned().unwrap_or(Value::Null),
                }),
            )),
            ..Decision::default()
        },
        // delivery statuses (delivered, open, click, deferred…): recorded only
        _ => Decision::default(),
    })
}

fn text_zone(event: &Obj) -> Result<Option<chrono_tz::Tz>, StepError> {
    text(event, "input.event", "timezone")?
        .map(|z| parse_tz(&z).map_err(|e| bad("input.event.timezone", e)))
        .transpose()
}

/// A classified reply: unsubscribe → ledger + `lead.unsubscribed`; out-of-office →
/// `lead.out_of_office` with `until`; anything else → `lead.replied`.
fn reply(
    c: Classification,
    text: &str,
    message_id: Value,
    at: DateTime<Utc>,
    zone: Option<chrono_tz::Tz>,
) -> Decision {
    let (suppress, signal) = match &c.category {
        ReplyCategory::Unsubscribe => (
            Some(SuppressionReason::Unsubscribe),
            (
                "lead.unsubscribed",
                json!({"source": "reply", "message_id": message_id}),
            ),
        ),
        ReplyCategory::OutOfOffice { return_date } => {
            let until = out_of_office_until(*return_date, at, zone);
            (
                None,
                (
                    "lead.out_of_office",
                    json!({"until": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                           "return_date": return_date}),
                ),
            )
        }
        _ => (
            None,
            (
                "lead.replied",
                json!({
                    "category": c.category.name(),
                    "confidence": c.confidence,
                    "message_id": message_id,
                    "text_excerpt": text.chars().take(EXCERPT_CHARS).collect::<String>(),
                }),
            ),
        ),
    };
    Decision {
        suppress,
        signal: Some(signal),
        classification: Some(c),
    }
}

/// 00:00 lead-local (UTC when unknown) on the day after the return date, or 7 days
/// after the reply when no usable date is given (`pause_on_out_of_office`).
fn out_of_office_until(
    return_date: Option<NaiveDate>,
    at: DateTime<Utc>,
    zone: Option<chrono_tz::Tz>,
) -> DateTime<Utc> {
    let zone = zone.unwrap_or(chrono_tz::UTC);
    return_date
        .and_then(|d| d.succ_opt())
        .and_then(|d| {
            zone.from_local_datetime(&d.and_time(NaiveTime::MIN))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| *t > at)
        .unwrap_or(at + Duration::days(OUT_OF_OFFICE_DEFAULT_DAYS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: Value) -> Obj {
        v.as_object().unwrap().clone()
    }

    fn at() -> DateTime<Utc> {
        "2026-12-01T15:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_unsubscribe_reply_suppresses_and_signals_unsubscribed() {
        let d = decide(
            "reply",
            &event(json!({"text": "Please remove me from your list"})),
            at(),
            None,
        )
        .unwrap();
        assert_eq!(d.suppress, Some(SuppressionReason::Unsubscribe));
        assert_eq!(d.signal.unwrap().0, "lead.unsubscribed");
    }

    #[test]
    fn a_stop_text_suppresses_the_number() {
        let d = decide("sms_inbound", &event(json!({"text": "STOP"})), at(), None).unwrap();
        assert_eq!(d.suppress, Some(SuppressionReason::SmsStop));
        assert_eq!(d.signal.unwrap().0, "lead.stop");
    }

    #[test]
    fn an_out_of_office_pauses_until_the_morning_after_the_return_date() {
        let d = decide(
            "reply",
            &event(
                json!({"text": "I am out of the office until December 14, 2026.",
                          "timezone": "America/New_York"}),
            ),
            at(),
            None,
        )
        .unwrap();
        assert_eq!(d.suppress, None);
        let (name, payload) = d.signal.unwrap();
        assert_eq!(name, "lead.out_of_office");
        assert_eq!(payload["until"], "2026-12-15T05:00:00Z");
    }

    #[test]
    fn a_soft_bounce_and_a_delivery_are_only_recorded() {
        let soft = decide("bounce", &event(json!({"bounce_type": "soft"})), at(), None).unwrap();
        assert_eq!(soft, Decision::default());
        assert_eq!(
            decide("delivered", &event(json!({})), at(), None).unwrap(),
            Decision::default()
        );
    }
}
