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

mod compose;
mod errors;
mod linkedin;
mod reconcile;
mod send;
mod slots;

use compose::{hash_body, recipient_address};
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
}
