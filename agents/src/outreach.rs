//! `outreach`: the send path and LinkedIn tasks, on the domain store.
//!
//! `send` runs, in order, each stage a pure decision of `rex-domain` with the IO around
//! it (docs/agents.md):
//! 1. a redelivery (same `<mission>:<step>` message id) answers from the message on
//!    record and never sends again (see "Reconciliation");
//! 2. suppression: the ledger at the worker's clock → `suppressed`;
//! 3. consent/country gate (`consent_gate`) → `skipped`;
//! 4. email window (`SendWindow::default()`) / SMS quiet hours (`sms_allowed`,
//!    `next_sms_time`) in the lead's zone → deferred (`StepError::defer`: the engine
//!    runs the step again at the window's next opening, no attempt lost), no slot
//!    taken; an unknown zone → `skipped` (rule `unknown_time_zone`);
//! 5. the message is composed (`finalize_email`: postal address, RFC 8058 headers with
//!    a signed unsubscribe token (`rex_domain::unsubscribe`, checked by the API's
//!    `/u/{token}`),
//!    Art. 14 notice on the first email to an EU/EEA/UK lead; the first text ends with
//!    "Reply STOP to opt out"), so that a compliance refusal takes no slot;
//! 6. slots: email takes a mailbox slot in `pick_mailbox` order (`take_mailbox_slot`, one
//!    atomic statement shared by every process; none left → deferred to 00:00 UTC),
//!    then the tenant's hourly channel budget (`take_channel_slot`; spent → deferred
//!    to the next hour);
//! 7. `record_intent`, committed before the call;
//! 8. the provider (SendGrid / Twilio, dry-run stand-ins without keys);
//! 9. in dry-run, `record_dry_run` (the stand-in's entry, linked to the intent); then
//!    `record_receipt` → `sent`.
//!
//! Slots taken for a send that does not happen are released. A provider refusal of the
//! address (SendGrid 400 on the recipient, Twilio 21211) records a `rejected` receipt
//! and a `hard_bounce` ledger entry; Twilio 21610 a `sms_stop` entry. A failure that
//! certainly sent nothing (connection refused, 429, 5xx) removes the intent and is
//! retryable; a timeout after the request was written is recorded as `sent` with
//! reason `outcome_unknown` (never resent).
//!
//! **Reconciliation.** An intent without a receipt means an earlier attempt stopped
//! between intent and receipt. Within [`RECONCILE_GRACE`] of the intent it may still be
//! in flight: retryable error. After it: in dry-run the persisted dry-run log
//! (`dry_run_log`, written right before each dry-run receipt) decides (an entry linked
//! to the intent → `sent`, absent → `skipped` with reason `not_sent`, receipt
//! `not_sent`); with a live
//! provider Rex has no lookup of a message by its custom args yet, so the receipt is
//! `sent` with detail `outcome_unknown` and the output says `reason: "outcome_unknown"`.
//! Either way the message is never sent again.
//!
//! The lead is found by its CRM id (`lead.id`) and created from the task's record on
//! first use; the campaign by name (`campaign_id`), likewise.
//!
//! `handle_event` lives in `crate::events` and is offered only when the outreach agent
//! was given an engine. Before the provider call, `rules::evaluate` sees what the path
//! knows (`crate::decisions::send_decision`): the decision is counted and reported as
//! `decision: {layer, rule, reason}` in a sent/suppressed output, a disagreement with the
//! gates above only logged. **Not here:** `world::simulate` (the dry-run world is driven
//! elsewhere).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use rex_adapters::clock::Clock;
use rex_adapters::email::{Mailbox as Address, Unsubscribe};
use rex_adapters::{
    DryRunLog, EmailSender, Mode, OutboundEmail, OutboundSms, ProviderError, SmsSender,
};
use rex_domain::channel::parse_tz;
use rex_domain::outreach::{
    GateRefusal, SendWindow, SuppressionReason, consent_gate, next_sms_time, sms_allowed,
};
use rex_domain::personalizer::{ComplianceSettings, Draft, Recipient, finalize_email};
use rex_domain::{Channel, ConsentFlags};
use rex_domain_store::codec::enum_text;

use crate::credentials::{Source, TenantProviders};
use rex_domain_store::entity::messages;
use rex_domain_store::{
    Intent, LeadRow, NewIntent, NewSuppression, Receipt, ReceiptStatus, address_hash,
    campaign_by_name, create_campaign, hour_start, import_leads, is_suppressed,
    lead_by_external_id, record_intent, record_receipt, release_channel_slot, release_mailbox_slot,
    suppress, take_channel_slot, take_mailbox_slot,
};
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use uuid::Uuid;

use crate::deliverability::{rotation, senders};
use crate::input::{self, Obj, bad, parse, text};
use crate::{AgentsConfig, AgentsError, OutreachSettings, store_error};

mod errors;
mod linkedin;
mod reconcile;

use errors::{address_refusal, error_kind, nothing_sent};
use reconcile::{dry_entry, find_message, has_sent_before};

const ACTIONS: &[&str] = &["send", "linkedin_task"];
/// With an engine to publish signals through (see [`Outreach::with_events`]).
const ACTIONS_WITH_EVENTS: &[&str] = &["send", "linkedin_task", "handle_event"];

/// How long an intent without a receipt is presumed in flight (chosen: far above the
/// provider clients' whole retry budget).
pub const RECONCILE_GRACE: Duration = Duration::minutes(10);
/// Appended to the first text to a lead (TCPA practice; Twilio honours STOP).
pub const SMS_OPT_OUT: &str = "Reply STOP to opt out";
/// Footer address used in dry-run when `REX_POSTAL_ADDRESS` is unset.
const DRY_RUN_POSTAL_ADDRESS: &str = "(dry run: set REX_POSTAL_ADDRESS)";

/// One channel's client for one tenant.
enum Sender {
    Email(Source, Arc<dyn EmailSender>),
    Sms(Source, Arc<dyn SmsSender>),
}

impl Sender {
    fn mode(&self) -> Mode {
        match self {
            Sender::Email(_, c) => c.mode(),
            Sender::Sms(_, c) => c.mode(),
        }
    }

    fn source(&self) -> Source {
        match self {
            Sender::Email(s, _) | Sender::Sms(s, _) => *s,
        }
    }
}

pub struct Outreach {
    store: Store,
    /// Each tenant's SendGrid and Twilio clients (`crate::credentials`).
    providers: TenantProviders,
    dry_run: DryRunLog,
    clock: Arc<dyn Clock>,
    settings: OutreachSettings,
    events: Option<crate::events::Events>,
}

impl Outreach {
    /// Offers `handle_event` too (crate::events), which publishes through an engine.
    pub fn with_events(mut self, events: crate::events::Events) -> Self {
        self.events = Some(events);
        self
    }

    /// Refuses live email (SendGrid configured) signed with the development unsubscribe
    /// secret: anyone could forge its tokens.
    pub fn from_config(store: Store, config: &AgentsConfig) -> Result<Self, AgentsError> {
        if config.sendgrid.is_some()
            && let Err(why) =
                rex_domain::unsubscribe::check_secret(config.outreach.unsubscribe_secret.expose())
        {
            return Err(AgentsError::Setting {
                name: "REX_UNSUBSCRIBE_SECRET",
                why: format!("{why} (live email signs its unsubscribe links with it)"),
            });
        }
        let providers = TenantProviders::from_config(config)?.with_store(store.clone());
        Ok(Self {
            store,
            providers,
            dry_run: config.dry_run.clone(),
            clock: config.clock.clone(),
            settings: config.outreach.clone(),
            events: None,
        })
    }
}

#[async_trait]
impl Agent for Outreach {
    fn name(&self) -> &'static str {
        "outreach"
    }

    fn actions(&self) -> &'static [&'static str] {
        if self.events.is_some() {
            ACTIONS_WITH_EVENTS
        } else {
            ACTIONS
        }
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("outreach", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "send" => self.send(ctx, obj).await,
                "linkedin_task" => self.linkedin_task(ctx, obj).await,
                "handle_event" => match &self.events {
                    Some(events) => events.handle(obj).await,
                    None => Err(crate::unknown_action("outreach", ctx, self.actions())),
                },
                _ => Err(crate::unknown_action("outreach", ctx, self.actions())),
            }
        }
        .instrument(span)
        .await
    }
}

/// What `send` reads from its input.
struct SendRequest<'a> {
    lead: &'a Obj,
    lead_id: String,
    campaign: String,
    channel: Channel,
    subject: Option<String>,
    body: String,
}

impl<'a> SendRequest<'a> {
    fn parse(obj: &'a Obj) -> Result<Self, StepError> {
        let lead = match obj.get("lead") {
            Some(Value::Object(lead)) => lead,
            _ => return Err(bad("input.lead", "required (an object)")),
        };
        let lead_id =
            text(lead, "input.lead", "id")?.ok_or_else(|| bad("input.lead.id", "required"))?;
        let campaign = text(obj, "input", "campaign_id")?
            .ok_or_else(|| bad("input.campaign_id", "required"))?;
        let channel = parse::<Channel>(obj, "input", "channel")?
            .ok_or_else(|| bad("input.channel", "required (email or sms)"))?;
        if channel == Channel::Linkedin {
            return Err(bad(
                "input.channel",
                "outreach.send sends email or sms; LinkedIn is outreach.linkedin_task",
            ));
        }
        let subject = text(obj, "input", "message.subject")?;
        if channel == Channel::Email && subject.is_none() {
            return Err(bad("input.message.subject", "required for email"));
        }
        let body = text(obj, "input", "message.body")?
            .ok_or_else(|| bad("input.message.body", "required"))?;
        Ok(Self {
            lead,
            lead_id,
            campaign,
            channel,
            subject,
            body,
        })
    }

    fn address(&self) -> Result<Option<String>, StepError> {
        let field = if self.channel == Channel::Email {
            "email"
        } else {
            "phone"
        };
        text(self.lead, "input.lead", field)
    }
}

/// The output of one send, built up as the stages decide.
struct Out {
    message_id: String,
    channel: Channel,
}

impl Out {
    fn json(
        &self,
        status: &str,
        reason: Option<String>,
        record: Option<Uuid>,
        mailbox: Option<&str>,
        provider_id: Option<&str>,
    ) -> Value {
        // `record_id`: the `messages` row, which delivery events are tied to
        json!({
            "status": status, "reason": reason, "message_id": self.message_id,
            "record_id": record.map(|r| r.to_string()),
            "channel": enum_text(&self.channel), "mailbox": mailbox, "provider_id": provider_id,
        })
    }

    fn suppressed(&self, reason: &str) -> Value {
        rex_observability::metrics().suppression(reason);
        self.json("suppressed", Some(reason.to_owned()), None, None, None)
    }

    fn skipped(&self, reason: impl Into<String>) -> Value {
        self.json("skipped", Some(reason.into()), None, None, None)
    }

    /// Not now: the engine runs the step again at `until` (a deferral, not a failure:
    /// no touch is lost and the retry budget stays whole).
    fn deferred(&self, until: DateTime<Utc>, reason: &str) -> StepError {
        rex_observability::metrics().send_deferred(reason);
        StepError::defer(until, reason)
    }
}

fn refusal_text(refusal: &GateRefusal) -> String {
    match refusal {
        GateRefusal::Objected { channel } => format!("lead objected to {}", enum_text(channel)),
        GateRefusal::CountryNeedsConsent { channel, country } => {
            format!(
                "{country} requires prior consent for {}",
                enum_text(channel)
            )
        }
        GateRefusal::CountryUnknown { channel } => {
            format!(
                "country unknown: the {} consent gate cannot be applied",
                enum_text(channel)
            )
        }
        GateRefusal::NoSmsConsent => "no SMS consent".to_owned(),
    }
}

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    (now.date_naive() + Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc()
}

/// The slots one send holds until it has happened.
struct Slots {
    mailbox: Option<(Uuid, String)>,
    at: DateTime<Utc>,
}

fn hash_body(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Outreach {
    /// The tenant's client for `channel`, with where its credentials come from.
    async fn sender(&self, tenant: Uuid, channel: Channel) -> Result<Sender, StepError> {
        let set = self.providers.for_tenant(tenant).await?;
        Ok(if channel == Channel::Email {
            let (source, client) = set.email.get()?;
            Sender::Email(source, client)
        } else {
            let (source, client) = set.sms.get()?;
            Sender::Sms(source, client)
        })
    }

    fn provider(channel: Channel) -> &'static str {
        if channel == Channel::Email {
            "sendgrid"
        } else {
            "twilio"
        }
    }

    /// The message's A/B variant: the lead's `variant` key (from `personalizer`) in the
    /// experiment of `input.campaign.experiment {name, variants}`, created with the
    /// campaign on first use. `None` without an experiment or a variant.
    async fn variant(
        &self,
        tenant: Uuid,
        campaign: Uuid,
        obj: &Obj,
        lead: &Obj,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, StepError> {
        let Some(key) = text(lead, "input.lead", "variant")? else {
            return Ok(None);
        };
        let Some(Value::Object(experiment)) = obj.get("campaign").and_then(|c| c.get("experiment"))
        else {
            return Ok(None);
        };
        let Some(name) = experiment.get("name").and_then(Value::as_str) else {
            return Ok(None);
        };
        let keys: Vec<String> = experiment
            .get("variants")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let found = rex_domain_store::ensure_experiment(
            self.store.conn(),
            tenant,
            Some(campaign),
            name,
            &keys,
            now,
        )
        .await
        .map_err(|e| store_error("experiment", &e))?;
        Ok(found.variants.iter().find(|v| v.key == key).map(|v| v.id))
    }

    /// Whether the mission this attempt belongs to has ended (an id that names no
    /// mission, as in a direct call, has not).
    async fn mission_ended(&self, mission_id: &str) -> Result<bool, StepError> {
        let Ok(id) = mission_id.parse::<Uuid>() else {
            return Ok(false);
        };
        let row = self
            .store
            .get_mission(id)
            .await
            .map_err(|e| StepError::retryable(format!("mission lookup: {e}")))?;
        Ok(row.is_some_and(|m| m.is_finished()))
    }

    /// `outreach.send`.
    async fn send(&self, ctx: &TaskContext, obj: &Obj) -> Result<Value, StepError> {
        let now = self.clock.now();
        let req = SendRequest::parse(obj)?;
        let out = Out {
            message_id: format!("{}:{}", ctx.mission_id, ctx.step_id),
            channel: req.channel,
        };
        let span = tracing::Span::current();
        span.record("rex.lead", req.lead_id.as_str());
        let Some(address) = req.address()? else {
            let what = if req.channel == Channel::Email {
                "email address"
            } else {
                "phone number"
            };
            return Ok(out.skipped(format!("no {what}")));
        };
        span.record("rex.address_hash", address_hash(&address).as_str());
        let tenant = crate::tenant_id(&self.store, obj, &self.settings.tenant, now).await?;
        // the tenant's own credentials, else the environment's: refused (half a pair,
        // a secret this worker cannot open) before anything is recorded or sent
        let sender = self.sender(tenant, req.channel).await?;
        crate::credentials::record_source(sender.source());
        if sender.mode() == Mode::Live
            && req.channel == Channel::Email
            && let Err(why) =
                rex_domain::unsubscribe::check_secret(self.settings.unsubscribe_secret.expose())
        {
            return Err(StepError::permanent(format!(
                "REX_UNSUBSCRIBE_SECRET: {why} (live email signs its unsubscribe links with it)"
            )));
        }
        let lead = self.lead(tenant, &req, now).await?;
        let campaign = self.campaign(tenant, &req.campaign, now).await?;
        let c = self.store.conn();

        // 1. a redelivery answers from the record
        if let Some(existing) =
            find_message(&self.store, tenant, lead, campaign, &out.message_id).await?
        {
            let mut answer = self
                .replay(tenant, existing, &out, sender.mode(), now)
                .await?;
            // a refusal on record: its signal again (a publish lost mid-attempt goes out)
            if answer["status"] == "suppressed"
                && let Some(reason) = answer["reason"].as_str().map(str::to_owned)
            {
                self.signal_refusal(obj, &req.lead_id, &reason, &out, &mut answer)
                    .await?;
            }
            return Ok(answer);
        }
        // 2. suppression ledger
        if let Some(entry) = is_suppressed(c, tenant, req.channel, &address, now)
            .await
            .map_err(|e| store_error("suppression ledger", &e))?
        {
            return Ok(out.suppressed(&entry.reason));
        }
        // 3. consent and country
        let country = text(req.lead, "input.lead", "country")?;
        let consent = parse::<ConsentFlags>(req.lead, "input.lead", "consent")?.unwrap_or_default();
        if let Err(refusal) = consent_gate(req.channel, country.as_deref(), &consent) {
            return Ok(out.skipped(refusal_text(&refusal)));
        }
        // 4. window / quiet hours in the lead's zone
        let zone = text(req.lead, "input.lead", "timezone")?;
        let Some(tz) = zone.as_deref().and_then(|z| parse_tz(z).ok()) else {
            return Ok(out.skipped(crate::reviver::UNKNOWN_TIME_ZONE_RULE));
        };
        let next_open = match req.channel {
            Channel::Sms if !sms_allowed(tz, now) => Some(next_sms_time(tz, now)),
            Channel::Email if !SendWindow::default().contains(tz, now) => {
                Some(SendWindow::default().next_open(tz, now))
            }
            _ => None,
        };
        if let Some(until) = next_open {
            let until = until.ok_or_else(|| StepError::permanent("the send window never opens"))?;
            let reason = if req.channel == Channel::Sms {
                "sms_quiet_hours"
            } else {
                "send_window"
            };
            return Err(out.deferred(until, reason));
        }
        // 5. compose before taking anything
        let first = !has_sent_before(&self.store, tenant, lead, req.channel).await?;
        let composed = self.compose(tenant, &req, &out, country.clone(), first, sender.mode())?;
        // the lead's A/B variant in the campaign's experiment, for the report
        let variant = self.variant(tenant, campaign, obj, req.lead, now).await?;
        // 6. slots
        let slots = match self.take_slots(tenant, req.channel, now).await? {
            Ok(slots) => slots,
            Err((until, reason)) => return Err(out.deferred(until, reason)),
        };
        // the last look before committing to the send: a reply, booking or STOP that
        // ended the lead's sequence while this attempt ran stops it here (the worker's
        // cancel token only reaches running steps at its next poll)
        if self.mission_ended(&ctx.mission_id).await? {
            self.release(tenant, req.channel, &slots).await;
            return Ok(out.skipped("mission_ended"));
        }
        // 7. intent, committed before the call
        let intent = NewIntent {
            tenant_id: tenant,
            lead_id: lead,
            campaign_id: campaign,
            step_key: out.message_id.clone(),
            channel: req.channel,
            mailbox_id: slots.mailbox.as_ref().map(|(id, _)| *id),
            variant_id: variant,
            body_hash: hash_body(&[composed.subject.as_deref().unwrap_or(""), &composed.body]),
            at: now,
        };
        let intent_id = match record_intent(c, &intent).await {
            Ok(Intent::New(id)) => id,
            Ok(Intent::Existing { .. }) => {
                // a concurrent delivery of the same task got there first
                self.release(tenant, req.channel, &slots).await;
                let existing = find_message(&self.store, tenant, lead, campaign, &out.message_id)
                    .await?
                    .ok_or_else(|| StepError::retryable("message vanished after a conflict"))?;
                return self
                    .replay(tenant, existing, &out, sender.mode(), now)
                    .await;
            }
            Err(e) => {
                self.release(tenant, req.channel, &slots).await;
                return Err(store_error("message intent", &e));
            }
        };
        // 8. provider, after the rule layer has had its say
        let mailbox = slots.mailbox.as_ref().map(|(_, a)| a.as_str());
        let decision = crate::decisions::send_decision(&crate::decisions::SendKnown {
            now,
            channel: req.channel,
            suppressed: false,
            country: country.as_deref(),
            consent,
            time_zone: zone.as_deref(),
            mailbox,
        });
        let result = match &sender {
            Sender::Email(_, email_sender) => {
                let email = OutboundEmail {
                    message_id: out.message_id.clone(),
                    from: Address::named(
                        mailbox.unwrap_or_default(),
                        &self.settings.sender_company,
                    ),
                    reply_to: None,
                    to: recipient_address(req.lead, &address),
                    subject: composed.subject.clone().unwrap_or_default(),
                    text: composed.body.clone(),
                    html: None,
                    unsubscribe: Unsubscribe::one_click(composed.unsubscribe_url.clone()),
                    send_at: None,
                    categories: vec![],
                };
                email_sender
                    .send(&email)
                    .await
                    .map(|r| (r.provider_message_id, dry_entry(&r.delivery)))
            }
            Sender::Sms(_, sms_sender) => {
                let sms = OutboundSms {
                    message_id: out.message_id.clone(),
                    to: address.clone(),
                    body: composed.body.clone(),
                };
                sms_sender
                    .send(&sms)
                    .await
                    .map(|r| (r.provider_message_id, dry_entry(&r.delivery)))
            }
        };
        // 9. receipt
        let provider = Self::provider(req.channel);
        let operation = if req.channel == Channel::Email {
            "send_email"
        } else {
            "send_sms"
        };
        // the dry-run stand-in's record goes to the database before the receipt: it is
        // the provider's log of a dry run, which reconciliation consults
        let persisted = match &result {
            Ok((_, Some(entry))) => self.persist_dry_run(tenant, intent_id, *entry, now).await?,
            _ => None,
        };
        // the ledger reason when the provider refused the address itself
        let mut refused = None;
        let (receipt, answer) = match result {
            Ok((provider_id, entry)) => {
                let detail = entry.map(|n| match persisted {
                    Some(row) => format!("dry_run {row}"),
                    None => format!("dry_run entry {n} (not persisted)"),
                });
                let receipt = Receipt {
                    provider_message_id: provider_id.clone(),
                    status: ReceiptStatus::Sent,
                    detail,
                    at: now,
                };
                let answer = out.json(
                    "sent",
                    None,
                    Some(intent_id),
                    mailbox,
                    provider_id.as_deref(),
                );
                (receipt, Ok(answer))
            }
            Err(e) => {
                rex_observability::metrics().provider_error(provider, operation, error_kind(&e));
                // provider messages may quote the address: never into logs or outputs
                let said = rex_observability::redact_pii(&e.to_string()).into_owned();
                if nothing_sent(&e) {
                    self.forget_intent(tenant, intent_id).await;
                    self.release(tenant, req.channel, &slots).await;
                    let message = format!("{}: {said}", out.message_id);
                    return Err(if crate::provider::is_transient(&e) {
                        StepError::retryable(message)
                    } else {
                        StepError::permanent(message)
                    });
                }
                if matches!(
                    e,
                    ProviderError::Timeout { .. }
                        | ProviderError::Interrupted { .. }
                        | ProviderError::InvalidResponse { .. }
                ) {
                    let receipt = Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::Sent,
                        detail: Some(format!("outcome_unknown: {said}")),
                        at: now,
                    };
                    let answer = out.json(
                        "sent",
                        Some("outcome_unknown".into()),
                        Some(intent_id),
                        mailbox,
                        None,
                    );
                    (receipt, Ok(answer))
                } else {
                    self.release(tenant, req.channel, &slots).await;
                    let reason = address_refusal(req.channel, &e);
                    let detail = match reason {
                        Some(r) => format!("{}: {said}", enum_text(&r)),
                        None => format!("rejected: {said}"),
                    };
                    let receipt = Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::Rejected,
                        detail: Some(detail),
                        at: now,
                    };
                    let answer = match reason {
                        Some(r) => {
                            self.suppress(tenant, req.channel, &address, r, &out.message_id, now)
                                .await?;
                            refused = Some(enum_text(&r));
                            Ok(out.suppressed(&enum_text(&r)))
                        }
                        None => Err(StepError::permanent(format!("{}: {said}", out.message_id))),
                    };
                    (receipt, answer)
                }
            }
        };
        record_receipt(c, tenant, intent_id, &receipt)
            .await
            .map_err(|e| store_error("message receipt", &e))?;
        let mut answer = answer?;
        if let Some(o) = answer.as_object_mut() {
            o.insert("decision".into(), decision);
        }
        if let Some(reason) = refused {
            self.signal_refusal(obj, &req.lead_id, &reason, &out, &mut answer)
                .await?;
        }
        Ok(answer)
    }

    /// An address the provider refused at send ends the lead's sequence as the same
    /// news by webhook does (docs/agents.md, "Signals the sequence listens to"): a hard
    /// bounce publishes `lead.bounced`, an opted-out number (Twilio 21610) `lead.stop`,
    /// to the lead's missions of this tenant, with signal id `outreach:<message id>`. A
    /// redelivered step replays the refusal and publishes again, which each mission takes
    /// once, so a publish lost mid-attempt still goes out. Without an engine
    /// ([`Outreach::with_events`]) only the ledger entry stops later touches, on that
    /// channel alone. `answer` gets `signal` and `missions` (how many were reached).
    async fn signal_refusal(
        &self,
        obj: &Obj,
        lead_id: &str,
        reason: &str,
        out: &Out,
        answer: &mut Value,
    ) -> Result<(), StepError> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        let (name, payload) = match reason {
            "hard_bounce" => (
                "lead.bounced",
                json!({"message_id": out.message_id, "reason": "refused at send"}),
            ),
            "sms_stop" => (
                "lead.stop",
                json!({"body": null, "message_id": out.message_id}),
            ),
            _ => return Ok(()),
        };
        let slug = text(obj, "input", "tenant")?.unwrap_or_else(|| self.settings.tenant.clone());
        let reached = events
            .signal_lead(
                &slug,
                lead_id,
                name,
                payload,
                &format!("outreach:{}", out.message_id),
            )
            .await?;
        tracing::info!(
            signal = name,
            missions = reached.len(),
            "refused at send: sequence signalled"
        );
        answer["signal"] = name.into();
        answer["missions"] = reached.len().into();
        Ok(())
    }

    /// The lead's row id, creating the lead from the task's record on first use.
    async fn lead(
        &self,
        tenant: Uuid,
        req: &SendRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StepError> {
        let c = self.store.conn();
        let find = || async {
            lead_by_external_id(c, tenant, &req.lead_id)
                .await
                .map_err(|e| store_error("lead", &e))
        };
        if let Some(lead) = find().await? {
            return Ok(lead.id);
        }
        let l = req.lead;
        let p = "input.lead";
        let row = LeadRow {
            external_id: req.lead_id.clone(),
            email: text(l, p, "email")?,
            phone: text(l, p, "phone")?,
            first_name: text(l, p, "first_name")?,
            last_name: text(l, p, "last_name")?,
            title: text(l, p, "title")?,
            source: text(l, p, "history.source")?.unwrap_or_else(|| "outreach".into()),
            stage: text(l, p, "history.stage")?.unwrap_or_else(|| "lead".into()),
            time_zone: text(l, p, "timezone")?,
            country: text(l, p, "country")?,
            consent: parse(l, p, "consent")?.unwrap_or_default(),
            attributes: json!({}),
            ..Default::default()
        };
        let report = import_leads(c, tenant, &[row], now).await;
        match report {
            Ok(r) if !r.errors.is_empty() => {
                let e = &r.errors[0];
                return Err(bad(&format!("input.lead.{}", e.field), &e.message));
            }
            Ok(_) => {}
            Err(e) if e.is_unique_violation() => {} // another worker imported it first
            Err(e) => return Err(store_error("lead import", &e)),
        }
        find().await?.map(|l| l.id).ok_or_else(|| {
            StepError::retryable(format!("lead {} missing after import", req.lead_id))
        })
    }

    /// The campaign's row id by name, created on first use.
    async fn campaign(
        &self,
        tenant: Uuid,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Uuid, StepError> {
        let c = self.store.conn();
        let find = || async {
            campaign_by_name(c, tenant, name)
                .await
                .map_err(|e| store_error("campaign", &e))
        };
        if let Some(campaign) = find().await? {
            return Ok(campaign.id);
        }
        match create_campaign(c, tenant, name, json!({}), now).await {
            Ok(campaign) => Ok(campaign.id),
            Err(e) if e.is_unique_violation() => find()
                .await?
                .map(|c| c.id)
                .ok_or_else(|| store_error("campaign", &e)),
            Err(e) => Err(store_error("input.campaign_id", &e)),
        }
    }

    fn compose(
        &self,
        tenant: Uuid,
        req: &SendRequest<'_>,
        out: &Out,
        country: Option<String>,
        first: bool,
        mode: Mode,
    ) -> Result<Composed, StepError> {
        // a signed token, never the guessable message id: the API's `/u/{token}` checks it
        let token = rex_domain::unsubscribe::sign(
            self.settings.unsubscribe_secret.expose(),
            tenant,
            &out.message_id,
        );
        let unsubscribe_url = format!("{}/{token}", self.settings.unsubscribe_url);
        if req.channel == Channel::Sms {
            let mut body = req.body.clone();
            if first && !body.to_ascii_uppercase().contains("STOP") {
                body.push('\n');
                body.push_str(SMS_OPT_OUT);
            }
            return Ok(Composed {
                subject: None,
                body,
                unsubscribe_url,
            });
        }
        let postal_address = match (&self.settings.postal_address, mode) {
            (Some(a), _) => a.clone(),
            (None, Mode::DryRun) => DRY_RUN_POSTAL_ADDRESS.to_owned(),
            // finalize_email refuses it: no live email without a postal address
            (None, Mode::Live) => String::new(),
        };
        let settings = ComplianceSettings {
            sender_company: self.settings.sender_company.clone(),
            postal_address,
            unsubscribe_url: unsubscribe_url.clone(),
            unsubscribe_mailto: None,
        };
        let recipient = Recipient {
            country,
            first_message: first,
            data_sources: parse::<Vec<String>>(req.lead, "input.lead", "data_sources")?
                .unwrap_or_default(),
        };
        let draft = Draft {
            subject: req.subject.clone().unwrap_or_default(),
            body: req.body.clone(),
        };
        let email = finalize_email(&draft, &settings, &recipient)
            .map_err(|e| StepError::permanent(format!("compliance: {e}")))?;
        Ok(Composed {
            subject: Some(email.subject),
            body: email.body,
            unsubscribe_url,
        })
    }

    /// A mailbox slot (email) in rotation order, then the channel's hourly budget; or
    /// when to come back.
    async fn take_slots(
        &self,
        tenant: Uuid,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Result<Slots, (DateTime<Utc>, &'static str)>, StepError> {
        let c = self.store.conn();
        let mut slots = Slots {
            mailbox: None,
            at: now,
        };
        if channel == Channel::Email {
            let senders = senders(&self.store, tenant, now).await?;
            for i in rotation(&senders) {
                let s = &senders[i];
                let taken = take_mailbox_slot(c, tenant, s.row.mailbox.id, now.date_naive(), s.cap)
                    .await
                    .map_err(|e| store_error("mailbox slot", &e))?;
                if taken {
                    slots.mailbox = Some((s.row.mailbox.id, s.address().to_owned()));
                    break;
                }
            }
            if slots.mailbox.is_none() {
                return Ok(Err((next_utc_midnight(now), "mailbox_daily_cap")));
            }
        }
        let cap = if channel == Channel::Email {
            self.settings.email_hourly_cap
        } else {
            self.settings.sms_hourly_cap
        };
        match take_channel_slot(c, tenant, channel, now, cap).await {
            Ok(true) => Ok(Ok(slots)),
            Ok(false) => {
                self.release_mailbox(tenant, &slots).await;
                Ok(Err((
                    hour_start(now) + Duration::hours(1),
                    "channel_hourly_cap",
                )))
            }
            Err(e) => {
                self.release_mailbox(tenant, &slots).await;
                Err(store_error("channel slot", &e))
            }
        }
    }

    async fn release_mailbox(&self, tenant: Uuid, slots: &Slots) {
        if let Some((id, _)) = &slots.mailbox
            && let Err(e) =
                release_mailbox_slot(self.store.conn(), tenant, *id, slots.at.date_naive()).await
        {
            // the slot stays spent: the cap errs on the side of sending less
            tracing::warn!(error = %e, "could not release a mailbox slot");
        }
    }

    async fn release(&self, tenant: Uuid, channel: Channel, slots: &Slots) {
        self.release_mailbox(tenant, slots).await;
        if let Err(e) = release_channel_slot(self.store.conn(), tenant, channel, slots.at).await {
            tracing::warn!(error = %e, "could not release a channel slot");
        }
    }

    /// Removes an intent whose send certainly did not happen, so that a retry sends.
    async fn forget_intent(&self, tenant: Uuid, id: Uuid) {
        let deleted = messages::Entity::delete_many()
            .filter(messages::Column::TenantId.eq(tenant))
            .filter(messages::Column::Id.eq(id))
            .filter(messages::Column::ReceiptAt.is_null())
            .exec(self.store.conn())
            .await;
        if let Err(e) = deleted {
            // the retry then reconciles instead of sending: never a double send
            tracing::warn!(error = %e, "could not remove an unsent intent");
        }
    }

    async fn suppress(
        &self,
        tenant: Uuid,
        channel: Channel,
        address: &str,
        reason: SuppressionReason,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StepError> {
        let entry = NewSuppression {
            tenant_id: tenant,
            channel,
            address: address.to_owned(),
            reason,
            source_event: format!("{}:{message_id}", Self::provider(channel)),
            at: now,
        };
        suppress(self.store.conn(), &entry)
            .await
            .map(|_| ())
            .map_err(|e| store_error("suppression ledger", &e))
    }
}

struct Composed {
    subject: Option<String>,
    body: String,
    unsubscribe_url: String,
}

fn recipient_address(lead: &Obj, email: &str) -> Address {
    let name: Vec<String> = ["first_name", "last_name"]
        .iter()
        .filter_map(|f| text(lead, "input.lead", f).ok().flatten())
        .collect();
    if name.is_empty() {
        Address::new(email)
    } else {
        Address::named(email, name.join(" "))
    }
}
