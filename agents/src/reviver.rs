//! `reviver`: which dead leads to revive, and how.
//!
//! - `import` reads the lead file (or inline `leads`), checks every record with
//!   `channel::{is_email_address, is_e164, parse_tz}`: a malformed email or phone is
//!   cleared and listed in the record's `warnings`, an unknown zone stays with
//!   `timezone_valid: false`. A record without an `id` is rejected, and so is a second
//!   record with an id already seen (chosen: two records of one lead would mean two
//!   sequences, i.e. a lead texted twice).
//!
//!   With a store ([`Reviver::with_store`]) the kept records are then written for the
//!   tenant (input `tenant`, else `REX_TENANT`): companies and leads through
//!   `import_companies` / `import_leads`, and each record's `suppression` through
//!   `suppress` (source `import:<source>`), one transaction per [`CHUNK`] records. A
//!   row the store's validation refuses moves to `rejected` with its field. Without a
//!   store nothing is written and the output says `persisted: false`. Records keep
//!   their `suppression` either way, so `score` still excludes them.
//! - `score`: `reviver::{recoverability, reactivation_score}` at the worker's clock, the
//!   lead's `fit` from `icp.rescore` (50 when absent); then `min_score` (default 0) and
//!   `max_leads` (default: no limit), best score first (ties by id).
//! - `plan`: `channel_strategy` then `sequence_plan`; a lead whose zone is unknown loses
//!   email and SMS (rule `unknown_time_zone`), keeping LinkedIn.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use rex_adapters::clock::Clock;
use rex_domain::Channel;
use rex_domain::channel::{is_e164, is_email_address, parse_tz};
use rex_domain::reviver::{
    ExcludedChannel, channel_strategy, reactivation_score, recoverability, sequence_plan,
};
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::input::{self, Obj};
use crate::lead;

mod persist;
pub use persist::CHUNK;

const ACTIONS: &[&str] = &["import", "score", "plan"];

/// Rule name of the zone gate (`rules::catalog`).
pub const UNKNOWN_TIME_ZONE_RULE: &str = "unknown_time_zone";

pub struct Reviver {
    clock: Arc<dyn Clock>,
    /// Where `import` writes, with the tenant slug of a task that names none.
    store: Option<(Store, String)>,
}

impl Reviver {
    /// A reviver whose `import` writes nothing (`persisted: false`).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, store: None }
    }

    /// `import` also writes the leads and their suppressions to `store`, for the
    /// input's `tenant` or else `default_tenant` (created on first use).
    pub fn with_store(mut self, store: Store, default_tenant: &str) -> Self {
        self.store = Some((store, default_tenant.to_owned()));
        self
    }
}

#[async_trait]
impl Agent for Reviver {
    fn name(&self) -> &'static str {
        "reviver"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("reviver", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "import" => self.import(obj).await,
                "score" => score(obj, self.clock.as_ref()),
                "plan" => plan(obj),
                _ => Err(crate::unknown_action("reviver", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

fn warning(field: &str, value: &Value, reason: &str) -> Value {
    json!({"field": field, "value": value, "reason": reason})
}

/// Clears `field` when `valid` refuses it; returns the warning.
fn check_address(
    lead: &mut Obj,
    field: &str,
    valid: fn(&str) -> bool,
    reason: &str,
) -> Option<Value> {
    let value = lead.get(field)?.clone();
    let ok = match &value {
        Value::Null => return None,
        Value::String(s) => valid(s),
        _ => false,
    };
    if ok {
        return None;
    }
    lead.insert(field.to_owned(), Value::Null);
    Some(warning(field, &value, reason))
}

fn check_timezone(lead: &mut Obj) -> Option<Value> {
    let zone = lead.get("timezone").cloned().unwrap_or(Value::Null);
    let (known, problem) = match &zone {
        Value::String(z) if parse_tz(z).is_ok() => (true, None),
        Value::String(_) => (false, Some("unknown time zone")),
        Value::Null => (false, Some("no time zone")),
        _ => (false, Some("time zone is not a string")),
    };
    lead.insert("timezone_valid".into(), Value::Bool(known));
    problem.map(|reason| warning("timezone", &zone, reason))
}

impl Reviver {
    /// `reviver.import`.
    async fn import(&self, input: &Obj) -> Result<Value, StepError> {
        let (records, source) = input::records(input, "leads", "source").await?;
        let (mut out, indices) = check_records(records);
        let Some((store, default_tenant)) = &self.store else {
            out.insert("persisted".into(), Value::Bool(false));
            return finish(out, source);
        };
        let now = self.clock.now();
        let tenant = crate::tenant_id(store, input, default_tenant, now).await?;
        let label = source.as_deref().unwrap_or("inline");
        persist::persist(store, tenant, label, now, &indices, &mut out).await?;
        out.insert("persisted".into(), Value::Bool(true));
        finish(out, source)
    }
}

/// Adds the source and logs the counts.
fn finish(mut out: Obj, source: Option<String>) -> Result<Value, StepError> {
    let count = |k: &str| out["counts"][k].as_u64().unwrap_or(0);
    tracing::info!(
        total = count("total"),
        imported = count("imported"),
        rejected = count("rejected"),
        persisted = out["persisted"].as_bool(),
        "leads imported"
    );
    out.insert("source".into(), json!(source));
    Ok(Value::Object(out))
}

/// The pure part of `import`: every record checked, the kept ones with their warnings,
/// and the input position of each kept one.
fn check_records(records: Vec<Value>) -> (Obj, Vec<usize>) {
    let total = records.len();
    let mut leads = Vec::with_capacity(total);
    let mut indices = Vec::with_capacity(total);
    let mut rejected = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut warnings_total, mut suppressed) = (0usize, 0usize);
    for (index, record) in records.into_iter().enumerate() {
        let Value::Object(mut lead) = record else {
            rejected.push(json!({"index": index, "id": null, "reason": "not a JSON object"}));
            continue;
        };
        let id = lead
            .get("id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let Some(id) = id else {
            rejected.push(json!({"index": index, "id": lead.get("id"), "reason": "no id"}));
            continue;
        };
        if let Some(first) = seen.get(&id) {
            rejected.push(json!({
                "index": index, "id": id,
                "reason": format!("duplicate id (first at record {first})"),
            }));
            continue;
        }
        seen.insert(id, index);
        let warnings: Vec<Value> = [
            check_address(&mut lead, "email", is_email_address, "not an email address"),
            check_address(&mut lead, "phone", is_e164, "not an E.164 phone number"),
            check_timezone(&mut lead),
        ]
        .into_iter()
        .flatten()
        .collect();
        warnings_total += warnings.len();
        if input::get(&lead, "suppression").is_some() {
            suppressed += 1;
        }
        lead.insert("warnings".into(), Value::Array(warnings));
        leads.push(Value::Object(lead));
        indices.push(index);
    }
    let mut out = Obj::new();
    out.insert(
        "counts".into(),
        json!({
            "total": total,
            "imported": leads.len(),
            "rejected": rejected.len(),
            "warnings": warnings_total,
            "suppressed": suppressed,
        }),
    );
    out.insert("leads".into(), Value::Array(leads));
    out.insert("rejected".into(), Value::Array(rejected));
    (out, indices)
}

/// `reviver.score`.
fn score(input: &Obj, clock: &dyn Clock) -> Result<Value, StepError> {
    let items = input::array(input, "leads")?;
    let leads = input::with_ids(items, "leads")?;
    let min_score = input::whole(input, "min_score", 100)?.unwrap_or(0);
    let max_leads = input::whole(input, "max_leads", u64::MAX)?
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    let now = clock.now();
    let mut excluded = Vec::new();
    let mut kept = Vec::new();
    for (id, path, obj) in leads {
        let dead = lead::dead_lead(&id, obj, &path)?;
        if let Err(reason) = recoverability(&dead) {
            excluded.push(json!({"id": id, "reason": reason}));
            continue;
        }
        let score = reactivation_score(&dead, now);
        if u64::from(score.total) < min_score {
            excluded.push(json!({"id": id, "reason": "below_min_score", "score": score.total}));
            continue;
        }
        kept.push((score, id, obj));
    }
    kept.sort_by(|a, b| b.0.total.cmp(&a.0.total).then_with(|| a.1.cmp(&b.1)));
    let over = kept.split_off(max_leads.min(kept.len()));
    excluded.extend(
        over.iter()
            .map(|(s, id, _)| json!({"id": id, "reason": "over_max_leads", "score": s.total})),
    );
    let leads: Vec<Value> = kept
        .into_iter()
        .map(|(score, _, obj)| {
            let mut lead = obj.clone();
            lead.insert("score".into(), json!(score));
            Value::Object(lead)
        })
        .collect();
    tracing::info!(
        kept = leads.len(),
        excluded = excluded.len(),
        "leads scored"
    );
    Ok(json!({"leads": leads, "excluded": excluded}))
}

/// `reviver.plan`.
fn plan(input: &Obj) -> Result<Value, StepError> {
    let items = input::array(input, "leads")?;
    let leads = input::with_ids(items, "leads")?;
    let mut planned = Vec::with_capacity(leads.len());
    let mut dropped = Vec::new();
    for (id, path, obj) in leads {
        let mut strategy = channel_strategy(&lead::contact(obj, &path)?);
        if !lead::timezone_known(obj) {
            for channel in [Channel::Email, Channel::Sms] {
                if strategy.channels.contains(&channel) {
                    strategy.channels.retain(|c| *c != channel);
                    strategy.excluded.push(ExcludedChannel {
                        channel,
                        reason: format!(
                            "unknown time zone: quiet hours cannot be guaranteed ({UNKNOWN_TIME_ZONE_RULE})"
                        ),
                    });
                }
            }
        }
        let steps = sequence_plan(&strategy);
        if steps.is_empty() {
            dropped.push(json!({
                "id": id, "reason": "no usable channel", "excluded_channels": strategy.excluded,
            }));
            continue;
        }
        let channels: serde_json::Map<String, Value> = (1..=6u8)
            .map(|n| {
                let channel = steps
                    .iter()
                    .find(|s| s.step == n)
                    .map_or(json!("none"), |s| json!(s.channel));
                (format!("s{n}"), channel)
            })
            .collect();
        let mut lead = obj.clone();
        lead.insert("channels".into(), Value::Object(channels));
        lead.insert("plan".into(), json!(steps));
        lead.insert("excluded_channels".into(), json!(strategy.excluded));
        planned.push(Value::Object(lead));
    }
    Ok(json!({"leads": planned, "dropped": dropped}))
}
