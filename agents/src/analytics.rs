//! `analytics.report`: campaign metrics, the A/B verdict, daily trends and
//! recommendations, from `analytics::{campaign_metrics, metrics_by_variant,
//! judge_experiment(Guardrails::default()), trends(Bucket::Day), recommend}`.
//!
//! The events are the task's `events` array when it has one (`events.source: "input"`).
//! Without one, an agent with a store ([`Analytics::with_store`]) reads the campaign's
//! from the domain store (`events.source: "domain_store"`): input `campaign_id` names
//! the campaign, for the tenant `tenant` (else the configured one); sent receipts and
//! the recorded delivery events, through `rex_domain_store::campaign_events`. Without
//! either there are none, and the report says so in `events.count`. An inline event is
//! `analytics::MessageEvent` (`{message_id, variant, at, kind: {type, …}}`) and may
//! carry the message's `framework` and lead-local `send_hour` (0–23), which feed the
//! framework and send-time recommendations (the store keeps neither yet). Sending
//! domains' tiers come from `deliverability.domains` (the `deliverability.check`
//! output), when given.
//!
//! **Gap:** the report is only returned, not stored.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use rex_domain::analytics::{
    Bucket, CampaignMetrics, Guardrails, MessageEvent, RecommendationInput, Verdict,
    campaign_metrics, judge_experiment, metrics_by_variant, recommend, trends,
};
use rex_domain::deliverability::HealthTier;
use rex_domain::personalizer::Framework;
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::input::{self, Obj, bad};

mod stored;

const ACTIONS: &[&str] = &["report"];

#[derive(Default)]
pub struct Analytics {
    /// Where events are read when the input has none, with the tenant slug of a task
    /// that names none.
    store: Option<(Store, String)>,
}

impl Analytics {
    pub fn new() -> Self {
        Self::default()
    }

    /// A task without inline `events` reads its campaign's from `store`, for the
    /// input's `tenant` or else `default_tenant`.
    pub fn with_store(mut self, store: Store, default_tenant: &str) -> Self {
        self.store = Some((store, default_tenant.to_owned()));
        self
    }
}

#[async_trait]
impl Agent for Analytics {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("analytics", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "report" => self.report(obj).await,
                _ => Err(crate::unknown_action("analytics", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

/// What an event may say about its message beyond `MessageEvent`.
#[derive(Deserialize)]
struct Extras {
    #[serde(default)]
    framework: Option<Framework>,
    #[serde(default)]
    send_hour: Option<u8>,
}

fn rates(m: &CampaignMetrics) -> Value {
    json!({
        "open": m.open_rate(),
        "reply": m.reply_rate(),
        "positive_reply": m.positive_reply_rate(),
        "bounce": m.bounce_rate(),
        "complaint": m.complaint_rate(),
        "unsubscribe": m.unsubscribe_rate(),
        "meeting": m.meeting_rate(),
    })
}

/// Metrics of the events whose message falls in each group.
fn grouped<K: Ord + Copy>(
    events: &[MessageEvent],
    key: &HashMap<String, K>,
) -> BTreeMap<K, CampaignMetrics> {
    let mut groups: BTreeMap<K, Vec<MessageEvent>> = BTreeMap::new();
    for e in events {
        if let Some(k) = key.get(&e.message_id) {
            groups.entry(*k).or_default().push(e.clone());
        }
    }
    groups
        .into_iter()
        .map(|(k, evs)| (k, campaign_metrics(&evs)))
        .collect()
}

fn domains(input: &Obj) -> Result<BTreeMap<String, HealthTier>, StepError> {
    let Some(list) = input::get(input, "deliverability.domains") else {
        return Ok(BTreeMap::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| bad("input.deliverability.domains", "expected an array"))?;
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let path = format!("input.deliverability.domains[{i}]");
            let obj = d
                .as_object()
                .ok_or_else(|| bad(&path, "expected an object"))?;
            let domain = input::text(obj, &path, "domain")?
                .ok_or_else(|| bad(&format!("{path}.domain"), "required"))?;
            let tier = input::parse::<HealthTier>(obj, &path, "tier")?
                .ok_or_else(|| bad(&format!("{path}.tier"), "required"))?;
            Ok((domain, tier))
        })
        .collect()
}

impl Analytics {
    /// `analytics.report`: the events from the input, else from the store.
    async fn report(&self, input: &Obj) -> Result<Value, StepError> {
        let inline = input.get("events").filter(|v| !v.is_null());
        match (inline, &self.store) {
            (None, Some((store, default))) => {
                let events = stored::events(store, input, default).await?;
                build(input, Inline::default(), events, "domain_store")
            }
            (raw, _) => {
                let (events, extras) = inline_events(raw)?;
                build(input, extras, events, "input")
            }
        }
    }
}

/// What inline events say of their messages beyond `MessageEvent`, by message id.
#[derive(Default)]
struct Inline {
    framework_of: HashMap<String, Framework>,
    hour_of: HashMap<String, u8>,
}

fn inline_events(raw: Option<&Value>) -> Result<(Vec<MessageEvent>, Inline), StepError> {
    let raw = match raw {
        None => &Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("input.events", "expected an array")),
    };
    let mut events = Vec::with_capacity(raw.len());
    let mut framework_of = HashMap::new();
    let mut hour_of = HashMap::new();
    for (i, value) in raw.iter().enumerate() {
        let path = format!("input.events[{i}]");
        let event = MessageEvent::deserialize(value).map_err(|e| bad(&path, e))?;
        let extras = Extras::deserialize(value).map_err(|e| bad(&path, e))?;
        if let Some(f) = extras.framework {
            framework_of.insert(event.message_id.clone(), f);
        }
        match extras.send_hour {
            Some(h) if h > 23 => {
                return Err(bad(
                    &format!("{path}.send_hour"),
                    format!("expected 0..=23, got {h}"),
                ));
            }
            Some(h) => {
                hour_of.insert(event.message_id.clone(), h);
            }
            None => {}
        }
        events.push(event);
    }
    Ok((
        events,
        Inline {
            framework_of,
            hour_of,
        },
    ))
}

fn build(
    input: &Obj,
    inline: Inline,
    events: Vec<MessageEvent>,
    source: &str,
) -> Result<Value, StepError> {
    let stale_enrichment_share = match input.get("stale_enrichment_share") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|s| (0.0..=1.0).contains(s))
            .ok_or_else(|| {
                bad(
                    "input.stale_enrichment_share",
                    format!("expected 0..=1, got {v}"),
                )
            })?,
    };

    let metrics = campaign_metrics(&events);
    let by_variant = metrics_by_variant(&events);
    let experiment = judge_experiment(&by_variant, &Guardrails::default());
    let recommendations = recommend(&RecommendationInput {
        campaign: metrics,
        domains: domains(input)?,
        experiment: Some(experiment.clone()),
        by_framework: grouped(&events, &inline.framework_of),
        by_send_hour: grouped(&events, &inline.hour_of),
        stale_enrichment_share,
    });
    // The contract's flat shape: {"verdict": "winner", "variant", …, "breaches"}.
    let mut verdict = json!(experiment.verdict);
    verdict["breaches"] = json!(experiment.breaches);
    let winner = match &experiment.verdict {
        Verdict::Winner { variant, .. } => Some(variant.clone()),
        Verdict::NoWinner { .. } => None,
    };
    let variants: BTreeMap<&String, Value> = by_variant
        .iter()
        .map(|(name, m)| (name, json!({"metrics": m, "rates": rates(m)})))
        .collect();
    let mut excluded_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(Value::Array(excluded)) = input.get("excluded") {
        for e in excluded {
            let reason = e.get("reason").and_then(Value::as_str).unwrap_or("unknown");
            *excluded_by_reason.entry(reason.to_owned()).or_default() += 1;
        }
    }
    tracing::info!(events = events.len(), source, sent = metrics.sent, winner = ?winner, "campaign report built");
    Ok(json!({
        "campaign_id": input.get("campaign_id"),
        "events": {"count": events.len(), "source": source},
        "metrics": metrics,
        "rates": rates(&metrics),
        "by_variant": variants,
        "experiment": verdict,
        "trends": trends(&events, Bucket::Day),
        "recommendations": recommendations,
        "funnel": {
            "imported": input.get("imported"),
            "excluded_by_reason": excluded_by_reason,
            "enrichment": input.get("enrichment"),
            "can_send": input::get(input, "deliverability.can_send"),
        },
    }))
}
