//! `personalizer.personalize`: one message per planned slot, in the slot's framework.
//!
//! - Email and LinkedIn slots: when an LLM is configured, its draft (the adapter redacts
//!   the lead's and sender's names before the call and restores them after) goes
//!   through `personalizer::choose_draft`, which keeps it only when `validate_draft`
//!   passes and renders the framework template otherwise. An LLM that fails (down,
//!   429/5xx after the adapter's own retries, refused key) is not asked again for the
//!   rest of the task: every later message is a template (rule
//!   `llm_unavailable_use_template`), so one outage costs one timeout, not one per
//!   lead. Without an LLM (dry-run) the template is used directly and no call is made.
//! - SMS slots: a short template (`fill`ed by the domain), checked with `sms_segments`
//!   to fit 2 segments *including* the opt-out line `outreach.send` appends to a first
//!   text, so the sent message still fits.
//! - `assign_variant(lead, experiment)` picks the A/B variant.
//!
//! Every message says where it came from (`source`: `llm` | `template`) and why
//! (`reason`, and `rejected_because` when a draft failed validation). Compliance
//! footers (postal address, unsubscribe, Art. 14 notice) are not added here: the
//! contract adds them at send time (`personalizer::finalize_email` in `outreach.send`),
//! where the first-message and country facts are known; adding them here would
//! duplicate them.

use std::sync::Arc;

use async_trait::async_trait;
use rex_adapters::ProviderError;
use rex_adapters::llm::{LlmClient, Origin, Prompt};
use rex_domain::Channel;
use rex_domain::personalizer::{
    ChosenDraft, Draft, DraftSource, Framework, MessageContext, assign_variant, choose_draft, fill,
    sms_segments,
};
use rex_domain::reviver::{PlannedStep, StepPurpose};
use rex_workers::{Agent, StepError, TaskContext};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use rex_store::Store;

use crate::config::AgentsConfig;
use crate::credentials::{Source, TenantProviders};
use crate::error::AgentsError;
use crate::input::{self, Obj, bad};
use crate::lead;

const ACTIONS: &[&str] = &["personalize"];

/// The fallback rule's name (`rules::catalog`).
pub const LLM_FALLBACK_RULE: &str = "llm_unavailable_use_template";

/// What `outreach.send` appends to the first text to a lead (TCPA opt-out).
pub const SMS_OPT_OUT_NOTICE: &str = "Reply STOP to opt out";

/// Most segments an SMS may take (docs/agents.md).
pub const MAX_SMS_SEGMENTS: usize = 2;

/// SMS templates, longest first; the first that fits is used, else [`SHORTEST_SMS`].
const SMS_TEMPLATES: [&str; 2] = [
    "Hi {{first_name}}, {{sender_name}} from {{sender_company}} here. We help teams {{value_prop}}. Worth a quick call about {{company}}?",
    "Hi {{first_name}}, {{sender_name}} from {{sender_company}} here. Worth a quick call about {{company}}?",
];
const SHORTEST_SMS: &str = "Hi {{first_name}}, {{sender_name}} here. Worth a quick call?";

pub struct Personalizer {
    /// Every tenant's LLM, when built by [`Personalizer::new`].
    llm: Option<Arc<LlmClient>>,
    /// Each tenant's LLM (`crate::credentials`), with the tenant slug of a task that
    /// names none; when set, `llm` is unused.
    tenants: Option<(TenantProviders, String)>,
}

impl Personalizer {
    /// `llm` for every task: `None` writes templates only (dry-run).
    pub fn new(llm: Option<LlmClient>) -> Self {
        Self {
            llm: llm.map(Arc::new),
            tenants: None,
        }
    }

    /// The environment's LLM, or a tenant's own once given a store
    /// ([`Personalizer::with_store`]).
    pub fn from_config(config: &AgentsConfig) -> Result<Self, AgentsError> {
        Ok(Self {
            llm: None,
            tenants: Some((
                TenantProviders::from_config(config)?,
                config.outreach.tenant.clone(),
            )),
        })
    }

    /// Uses the LLM credentials each tenant stored in `store`, for the input's
    /// `tenant` or else `default_tenant`.
    pub fn with_store(mut self, store: Store, default_tenant: &str) -> Self {
        if let Some((providers, _)) = self.tenants.take() {
            self.tenants = Some((providers.with_store(store), default_tenant.to_owned()));
        }
        self
    }

    /// The task's LLM and where its credentials come from.
    async fn llm_for(&self, input: &Obj) -> Result<Option<Arc<LlmClient>>, StepError> {
        let (source, llm) = match &self.tenants {
            Some((providers, default)) => {
                let slug =
                    input::text(input, "input", "tenant")?.unwrap_or_else(|| default.clone());
                providers.for_slug(&slug).await?.llm.get()?
            }
            None => {
                let source = if self.llm.is_some() {
                    Source::Environment
                } else {
                    Source::DryRun
                };
                (source, self.llm.clone())
            }
        };
        crate::credentials::record_source(source);
        Ok(llm)
    }
}

#[async_trait]
impl Agent for Personalizer {
    fn name(&self) -> &'static str {
        "personalizer"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("personalizer", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "personalize" => self.personalize(ctx, obj).await,
                _ => Err(crate::unknown_action("personalizer", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

struct Experiment {
    name: String,
    variants: Vec<String>,
}

fn campaign(input: &Obj) -> Result<(MessageContext, Option<Experiment>), StepError> {
    let campaign = match input.get("campaign") {
        Some(Value::Object(c)) => c,
        None | Some(Value::Null) => return Err(bad("input.campaign", "required")),
        Some(_) => return Err(bad("input.campaign", "expected an object")),
    };
    let p = "input.campaign";
    let required = |field: &str| {
        input::text(campaign, p, field)?.ok_or_else(|| bad(&format!("{p}.{field}"), "required"))
    };
    let sender = MessageContext {
        sender_name: required("sender.name")?,
        sender_company: required("sender.company")?,
        value_prop: required("sender.value_prop")?,
        proof_point: input::text(campaign, p, "sender.proof_point")?,
        ..MessageContext::default()
    };
    let experiment = match input::get(campaign, "experiment") {
        None => None,
        Some(_) => {
            let variants: Vec<String> =
                input::parse(campaign, p, "experiment.variants")?.unwrap_or_default();
            let name = required("experiment.name")?;
            if variants.is_empty() {
                return Err(bad(
                    "input.campaign.experiment.variants",
                    format!("experiment \"{name}\" has no variants"),
                ));
            }
            Some(Experiment { name, variants })
        }
    };
    Ok((sender, experiment))
}

/// How the batch went, for the output and the logs.
#[derive(Default)]
struct Tally {
    llm: usize,
    template: usize,
    fallbacks: usize,
    /// Set at the first LLM failure; later messages skip the LLM.
    llm_down: Option<String>,
}

fn framework_name(f: Framework) -> &'static str {
    match f {
        Framework::Pas => "PAS (problem, agitate, solution)",
        Framework::Aida => "AIDA (attention, interest, desire, action)",
        Framework::Baf => "BAF (before, after, bridge)",
        Framework::Fab => "FAB (features, advantages, benefits)",
    }
}

fn purpose_text(p: StepPurpose) -> &'static str {
    match p {
        StepPurpose::Reopen => "reopen the conversation",
        StepPurpose::SocialTouch => "a short, friendly LinkedIn message",
        StepPurpose::NewValue => "bring one new idea of value",
        StepPurpose::Nudge => "a short nudge",
        StepPurpose::Proof => "show a customer's before and after",
        StepPurpose::BreakUp => "a polite last message that leaves the door open",
    }
}

fn prompt(ctx: &MessageContext, step: &PlannedStep, variant: Option<&str>) -> Prompt {
    let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
    let system = format!(
        "You write short, honest B2B sales messages to a lead whose deal went cold. \
         Framework: {}. Purpose: {}. Plain text, 50 to 125 words, greet the lead by first \
         name and mention their company, no placeholders, no links, at most one \
         exclamation mark, no guarantees or promises, a subject under 60 characters that \
         does not start with Re: or Fwd:. Sign with the sender's first name.",
        framework_name(step.framework),
        purpose_text(step.purpose),
    );
    let user = format!(
        "Lead first name: {}\nCompany: {}\nIndustry: {}\nTheir problem when the deal went cold: {}\n\
         Sender: {} at {}\nWhat we do: {}\nProof: {}\nVariant: {}",
        or(&ctx.first_name, "unknown"),
        or(&ctx.company, "unknown"),
        or(&ctx.industry, "unknown"),
        or(&ctx.pain_point, "unknown"),
        ctx.sender_name,
        ctx.sender_company,
        ctx.value_prop,
        or(&ctx.proof_point, "none"),
        variant.unwrap_or("none"),
    );
    let names: Vec<String> = [ctx.first_name.clone(), Some(ctx.sender_name.clone())]
        .into_iter()
        .flatten()
        .collect();
    Prompt::new(system, user).hiding_names(names)
}

fn draft_schema() -> Value {
    json!({
        "type": "object",
        "required": ["subject", "body"],
        "properties": {"subject": {"type": "string"}, "body": {"type": "string"}}
    })
}

impl Personalizer {
    /// The copy for an email or LinkedIn slot and why it was chosen.
    async fn draft(
        &self,
        llm: Option<&LlmClient>,
        ctx: &MessageContext,
        step: &PlannedStep,
        variant: Option<&str>,
        tally: &mut Tally,
    ) -> (ChosenDraft, String) {
        let template = |reason: String| (choose_draft(None, step.framework, ctx), reason);
        let Some(llm) = llm else {
            return template("dry_run: no LLM configured, template used directly".into());
        };
        if let Some(why) = &tally.llm_down {
            return template(format!("{LLM_FALLBACK_RULE}: {why}"));
        }
        match llm
            .complete_json(&prompt(ctx, step, variant), &draft_schema())
            .await
        {
            Ok(answer) => {
                let text = |k: &str| {
                    answer
                        .value
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned()
                };
                let draft = Draft {
                    subject: text("subject"),
                    body: text("body"),
                };
                let chosen = choose_draft(Some(draft), step.framework, ctx);
                let reason = match (chosen.source, answer.origin) {
                    (DraftSource::Llm, Origin::Cache) => {
                        "llm draft (cached) passed validation".into()
                    }
                    (DraftSource::Llm, Origin::Model) => "llm draft passed validation".into(),
                    (DraftSource::Template, _) => "llm draft failed validation".into(),
                };
                (chosen, reason)
            }
            Err(e @ ProviderError::InvalidOutput { .. }) => {
                template(format!("llm answer unusable: {e}"))
            }
            Err(e) => {
                let error = rex_observability::redact_pii(&e.to_string()).into_owned();
                tracing::warn!(%error, "llm unavailable: templates for the rest of the task");
                let why = format!("llm unavailable ({})", e.kind());
                tally.llm_down = Some(format!("{why}: {e}"));
                template(format!("{LLM_FALLBACK_RULE}: {why}: {e}"))
            }
        }
    }

    async fn personalize(&self, task: &TaskContext, input: &Obj) -> Result<Value, StepError> {
        let (sender, experiment) = campaign(input)?;
        let items = input::array(input, "leads")?;
        let llm = self.llm_for(input).await?;
        let leads = input::with_ids(items, "leads")?;
        let mut tally = Tally::default();
        let mut out = Vec::with_capacity(leads.len());
        let total = leads.len();
        for (done, (id, path, obj)) in leads.into_iter().enumerate() {
            crate::check_cancel(task, done, total)?;
            let plan: Vec<PlannedStep> = input::parse(obj, &path, "plan")?
                .ok_or_else(|| bad(&format!("{path}.plan"), "required (run reviver.plan first)"))?;
            let ctx = lead::message_context(obj, &path, &sender)?;
            let variant = match &experiment {
                Some(e) => Some(
                    assign_variant(&id, &e.name, &e.variants)
                        .map_err(|err| bad("input.campaign.experiment", err))?
                        .to_owned(),
                ),
                None => None,
            };
            let mut messages = Map::new();
            for step in &plan {
                let message = match step.channel {
                    Channel::Sms => {
                        tally.template += 1;
                        sms_message(&ctx, step)
                    }
                    Channel::Email | Channel::Linkedin => {
                        let (chosen, reason) = self
                            .draft(llm.as_deref(), &ctx, step, variant.as_deref(), &mut tally)
                            .await;
                        match chosen.source {
                            DraftSource::Llm => tally.llm += 1,
                            DraftSource::Template => {
                                tally.template += 1;
                                if llm.is_some() {
                                    tally.fallbacks += 1;
                                }
                            }
                        }
                        draft_message(step, chosen, reason)
                    }
                };
                messages.insert(format!("s{}", step.step), message);
            }
            let mut lead = obj.clone();
            lead.insert("variant".into(), json!(variant));
            lead.insert("messages".into(), Value::Object(messages));
            out.push(Value::Object(lead));
        }
        let llm = match (&llm, &tally.llm_down) {
            (None, _) => "dry_run",
            (Some(_), Some(_)) => "unavailable",
            (Some(_), None) => "live",
        };
        tracing::info!(
            llm,
            from_llm = tally.llm,
            from_template = tally.template,
            fallbacks = tally.fallbacks,
            "leads personalized"
        );
        Ok(json!({
            "leads": out,
            "fallbacks": tally.fallbacks,
            "sources": {"llm": tally.llm, "template": tally.template},
            "llm": llm,
            "llm_error": tally.llm_down,
        }))
    }
}

fn draft_message(step: &PlannedStep, chosen: ChosenDraft, reason: String) -> Value {
    let mut m = Map::new();
    if step.channel == Channel::Email {
        m.insert("subject".into(), json!(chosen.draft.subject));
    }
    m.insert("body".into(), json!(chosen.draft.body));
    m.insert("source".into(), json!(chosen.source));
    m.insert("framework".into(), json!(step.framework));
    m.insert("reason".into(), json!(reason));
    if !chosen.rejected_because.is_empty() {
        m.insert("rejected_because".into(), json!(chosen.rejected_because));
    }
    Value::Object(m)
}

/// The first SMS template that fits in [`MAX_SMS_SEGMENTS`] with the opt-out line (the
/// shortest when none does; `fits` says so).
fn sms_message(ctx: &MessageContext, step: &PlannedStep) -> Value {
    let render = |template: &str| {
        let body = fill(template, ctx);
        let (encoding, segments) = sms_segments(&format!("{body}\n{SMS_OPT_OUT_NOTICE}"));
        (body, encoding, segments)
    };
    let (body, encoding, segments) = SMS_TEMPLATES
        .iter()
        .map(|t| render(t))
        .find(|(_, _, segments)| *segments <= MAX_SMS_SEGMENTS)
        .unwrap_or_else(|| render(SHORTEST_SMS));
    json!({
        "body": body,
        "segments": segments,
        "encoding": encoding,
        "fits": segments <= MAX_SMS_SEGMENTS,
        "source": DraftSource::Template,
        "framework": step.framework,
        "reason": "sms copy is a template, checked with sms_segments (opt-out line included)",
    })
}
