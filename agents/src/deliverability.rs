//! `deliverability`: which mailboxes may send, and how much, from the domain store.
//!
//! - `check` (campaign gate): per mailbox `assess` and its cap today, per domain
//!   `domain_tier`; `can_send` is whether `pick_mailbox` finds one.
//! - `recompute_health`: counts the last 30 days per mailbox — messages with a `sent`
//!   receipt, and their `bounce` (hard) and `spamreport` delivery events — writes the
//!   counters and tiers, and pauses a mailbox whose tier may not send. It never lifts a
//!   pause: that is an operator's decision after review.
//! - `advance_warmup`: writes each mailbox's cap for today, `effective_daily_cap(age,
//!   tier)`.
//! - `rotate`: the order `pick_mailbox` would use them in, and the domains with fewer
//!   than 3 sending mailboxes. **Not done:** the order is returned, not stored (the
//!   store has no table for it; `outreach.send` asks `pick_mailbox` on every send).
//!
//! A mailbox's cap today is the smaller of `effective_daily_cap` and the cap on its row
//! (set at creation, rewritten by `advance_warmup`). Mailbox ids in outputs are their
//! addresses, as in the contract.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rex_adapters::clock::Clock;
use rex_domain::deliverability::{
    HealthTier, Mailbox, SendStats, assess, domain_tier, effective_daily_cap, pick_mailbox,
};
use rex_domain_store::entity::{delivery_events, mailboxes, messages};
use rex_domain_store::{
    MailboxHealth, MailboxWithHealth, list_mailboxes, set_mailbox_paused, update_domain_health,
    update_mailbox_health,
};
use rex_observability::DomainTier;
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use tracing::Instrument;
use uuid::Uuid;

use crate::input::{self, Obj};
use crate::{AgentsConfig, store_error};

const ACTIONS: &[&str] = &["check", "recompute_health", "advance_warmup", "rotate"];

/// The health window (DOMAIN.md: rolling 30 days).
pub const HEALTH_WINDOW_DAYS: i64 = 30;
/// A domain with fewer sending mailboxes is listed by `rotate` (DOMAIN.md: 3–5).
pub const MIN_MAILBOXES_PER_DOMAIN: usize = 3;

pub struct Deliverability {
    store: Store,
    clock: Arc<dyn Clock>,
    tenant: String,
}

impl Deliverability {
    pub fn new(store: Store, config: &AgentsConfig) -> Self {
        Self {
            store,
            clock: config.clock.clone(),
            tenant: config.outreach.tenant.clone(),
        }
    }
}

#[async_trait]
impl Agent for Deliverability {
    fn name(&self) -> &'static str {
        "deliverability"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("deliverability", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            let now = self.clock.now();
            let tenant = crate::tenant_id(&self.store, obj, &self.tenant, now).await?;
            match ctx.action.as_str() {
                "check" => check(&self.store, tenant, obj, now).await,
                "recompute_health" => recompute_health(&self.store, tenant, obj, now).await,
                "advance_warmup" => advance_warmup(&self.store, tenant, obj, now).await,
                "rotate" => rotate(&self.store, tenant, now).await,
                _ => Err(crate::unknown_action("deliverability", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

/// One mailbox: its row, the pure view, and its cap today.
pub(crate) struct Sender {
    pub row: MailboxWithHealth,
    pub view: Mailbox,
    pub cap: u32,
}

impl Sender {
    pub fn address(&self) -> &str {
        &self.row.mailbox.address
    }

    pub fn remaining(&self) -> u32 {
        self.cap.saturating_sub(self.view.sent_today)
    }

    /// The view `pick_mailbox` should see: `sent_today` raised by what the row's own cap
    /// takes off the warmup cap, so that its `remaining_today` is exactly ours.
    fn picking_view(&self) -> Mailbox {
        let warmup = effective_daily_cap(self.view.age_days, self.view.tier());
        Mailbox {
            sent_today: self
                .view
                .sent_today
                .saturating_add(warmup.saturating_sub(self.cap)),
            ..self.view.clone()
        }
    }
}

/// The tenant's mailboxes with today's usage (`now`'s UTC day).
pub(crate) async fn senders(
    store: &Store,
    tenant: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Sender>, StepError> {
    let rows = list_mailboxes(store.conn(), tenant, now.date_naive())
        .await
        .map_err(|e| store_error("mailboxes", &e))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let view = row.to_domain(now);
            let own_cap = u32::try_from(row.mailbox.daily_cap.max(0)).unwrap_or(0);
            let cap = effective_daily_cap(view.age_days, view.tier()).min(own_cap);
            Sender { row, view, cap }
        })
        .collect())
}

/// The senders in the order `pick_mailbox` takes them (sending ones only).
pub(crate) fn rotation(senders: &[Sender]) -> Vec<usize> {
    let mut views: Vec<(usize, Mailbox)> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.picking_view()))
        .collect();
    let mut order = Vec::new();
    loop {
        let all: Vec<Mailbox> = views.iter().map(|(_, v)| v.clone()).collect();
        let Some(picked) = pick_mailbox(&all).map(|m| m.id.clone()) else {
            return order;
        };
        let Some(at) = views.iter().position(|(_, v)| v.id == picked) else {
            return order;
        };
        order.push(views[at].0);
        // still counts towards its domain's tier, but is never picked again
        views[at].1.paused = true;
    }
}

fn tier_text(tier: HealthTier) -> &'static str {
    match tier {
        HealthTier::Excellent => "excellent",
        HealthTier::Good => "good",
        HealthTier::Warning => "warning",
        HealthTier::Paused => "paused",
        HealthTier::Blocked => "blocked",
    }
}

fn metric_tier(tier: HealthTier) -> DomainTier {
    match tier {
        HealthTier::Excellent => DomainTier::Excellent,
        HealthTier::Good => DomainTier::Good,
        HealthTier::Warning => DomainTier::Fair,
        HealthTier::Paused => DomainTier::Poor,
        HealthTier::Blocked => DomainTier::Critical,
    }
}

/// Each domain with its mailboxes' counters added up, by name.
fn domains(senders: &[Sender]) -> BTreeMap<String, SendStats> {
    let mut out: BTreeMap<String, SendStats> = BTreeMap::new();
    for s in senders {
        let entry = out.entry(s.view.domain.clone()).or_default();
        *entry = entry.combined(s.view.stats);
    }
    out
}

/// `deliverability.check`.
async fn check(
    store: &Store,
    tenant: Uuid,
    input: &Obj,
    now: DateTime<Utc>,
) -> Result<Value, StepError> {
    let campaign = input::text(input, "input", "campaign_id")?;
    let senders = senders(store, tenant, now).await?;
    let views: Vec<Mailbox> = senders.iter().map(|s| s.view.clone()).collect();
    let domain_rows: Vec<Value> = domains(&senders)
        .into_iter()
        .map(|(domain, stats)| {
            let a = assess(&stats);
            json!({"domain": domain, "tier": tier_text(a.tier), "reason": a.reason})
        })
        .collect();
    let mut capacity = 0u32;
    let mailbox_rows: Vec<Value> = senders
        .iter()
        .map(|s| {
            let tier = s.view.tier();
            let sending =
                !s.view.paused && tier.may_send() && domain_tier(&views, &s.view.domain).may_send();
            let remaining = if sending { s.remaining() } else { 0 };
            capacity = capacity.saturating_add(remaining);
            json!({
                "id": s.address(), "domain": s.view.domain, "tier": tier_text(tier),
                "cap": s.cap, "sent_today": s.view.sent_today, "remaining_today": remaining,
                "paused": s.view.paused,
            })
        })
        .collect();
    let can_send = !rotation(&senders).is_empty();
    Ok(json!({
        "campaign_id": campaign,
        "can_send": can_send,
        "capacity_today": capacity,
        "domains": domain_rows,
        "mailboxes": mailbox_rows,
    }))
}

/// Sent, hard-bounced and complained messages per mailbox since `since`.
async fn window_stats(
    store: &Store,
    tenant: Uuid,
    since: DateTime<Utc>,
) -> Result<HashMap<Uuid, SendStats>, StepError> {
    let c = store.conn();
    let sent: Vec<(Uuid, Option<Uuid>)> = messages::Entity::find()
        .select_only()
        .column(messages::Column::Id)
        .column(messages::Column::MailboxId)
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::ReceiptStatus.eq("sent"))
        .filter(messages::Column::MailboxId.is_not_null())
        .filter(messages::Column::ReceiptAt.gte(rex_store::to_db_precision(since)))
        .into_tuple()
        .all(c)
        .await
        .map_err(|e| store_error("messages", &e.into()))?;
    let events: Vec<(Option<Uuid>, String)> = delivery_events::Entity::find()
        .select_only()
        .column(delivery_events::Column::MessageId)
        .column(delivery_events::Column::Kind)
        .filter(delivery_events::Column::TenantId.eq(tenant))
        .filter(delivery_events::Column::Kind.is_in(["bounce", "spamreport"]))
        .filter(delivery_events::Column::OccurredAt.gte(rex_store::to_db_precision(since)))
        .into_tuple()
        .all(c)
        .await
        .map_err(|e| store_error("delivery events", &e.into()))?;
    let mut by_message: HashMap<Uuid, Uuid> = HashMap::new();
    let mut stats: HashMap<Uuid, SendStats> = HashMap::new();
    for (message, mailbox) in sent {
        if let Some(mailbox) = mailbox {
            by_message.insert(message, mailbox);
            stats.entry(mailbox).or_default().sent += 1;
        }
    }
    for (message, kind) in events {
        let Some(mailbox) = message.and_then(|m| by_message.get(&m)) else {
            continue;
        };
        let s = stats.entry(*mailbox).or_default();
        if kind == "bounce" {
            s.hard_bounces += 1;
        } else {
            s.complaints += 1;
        }
    }
    Ok(stats)
}

/// The input's `domains` filter: empty or absent means every domain.
fn domain_filter(input: &Obj) -> Result<Vec<String>, StepError> {
    Ok(input::parse::<Vec<String>>(input, "input", "domains")?
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .collect())
}

/// `deliverability.recompute_health`.
async fn recompute_health(
    store: &Store,
    tenant: Uuid,
    input: &Obj,
    now: DateTime<Utc>,
) -> Result<Value, StepError> {
    let only = domain_filter(input)?;
    let stats = window_stats(store, tenant, now - Duration::days(HEALTH_WINDOW_DAYS)).await?;
    let c = store.conn();
    let mut senders = senders(store, tenant, now).await?;
    senders.retain(|s| only.is_empty() || only.contains(&s.view.domain));
    for s in &mut senders {
        s.view.stats = stats.get(&s.row.mailbox.id).copied().unwrap_or_default();
    }
    let views: Vec<Mailbox> = senders.iter().map(|s| s.view.clone()).collect();
    let (mut rows, mut paused, mut newly_paused) = (Vec::new(), Vec::new(), Vec::new());
    for s in &senders {
        let a = assess(&s.view.stats);
        let id = s.row.mailbox.id;
        let health = MailboxHealth {
            tier: a.tier,
            stats: s.view.stats,
        };
        update_mailbox_health(c, tenant, id, &health, now)
            .await
            .map_err(|e| store_error("mailbox health", &e))?;
        let mut is_paused = s.view.paused;
        if !a.tier.may_send() && !s.row.mailbox.paused {
            set_mailbox_paused(c, tenant, id, true, Some(&a.reason), now)
                .await
                .map_err(|e| store_error("mailbox pause", &e))?;
            tracing::warn!(mailbox = %id, tier = tier_text(a.tier), reason = %a.reason, "mailbox paused");
            newly_paused.push(s.address().to_owned());
            is_paused = true;
        }
        if is_paused {
            paused.push(s.address().to_owned());
        }
        rows.push(json!({
            "id": s.address(), "domain": s.view.domain, "age_days": s.view.age_days,
            "tier": tier_text(a.tier), "bounce_rate": a.bounce_rate,
            "complaint_rate": a.complaint_rate, "paused": is_paused, "reason": a.reason,
        }));
    }
    let mut domain_rows = Vec::new();
    let mut done: Vec<Uuid> = Vec::new();
    for s in &senders {
        if done.contains(&s.row.domain.id) {
            continue;
        }
        done.push(s.row.domain.id);
        let tier = domain_tier(&views, &s.view.domain);
        update_domain_health(c, tenant, s.row.domain.id, tier, now)
            .await
            .map_err(|e| store_error("domain health", &e))?;
        let totals = domains(&senders).remove(&s.view.domain).unwrap_or_default();
        let a = assess(&totals);
        rex_observability::metrics().set_domain_health(
            &s.view.domain,
            metric_tier(tier),
            a.bounce_rate,
            a.complaint_rate,
        );
        domain_rows
            .push(json!({"domain": s.view.domain, "tier": tier_text(tier), "reason": a.reason}));
    }
    Ok(json!({
        "mailboxes": rows,
        "domains": domain_rows,
        "paused": paused,
        "newly_paused": newly_paused,
    }))
}

/// `deliverability.advance_warmup`: writes each mailbox's cap for today.
async fn advance_warmup(
    store: &Store,
    tenant: Uuid,
    input: &Obj,
    now: DateTime<Utc>,
) -> Result<Value, StepError> {
    let given = input::parse::<Vec<Value>>(input, "input", "mailboxes")?;
    let senders = senders(store, tenant, now).await?;
    let mut caps: HashMap<String, (u32, &Sender)> = HashMap::new();
    for s in &senders {
        let cap = effective_daily_cap(s.view.age_days, s.view.tier());
        mailboxes::Entity::update_many()
            .col_expr(
                mailboxes::Column::DailyCap,
                Expr::value(i32::try_from(cap).unwrap_or(i32::MAX)),
            )
            .col_expr(
                mailboxes::Column::UpdatedAt,
                Expr::value(rex_store::to_db_precision(now)),
            )
            .filter(mailboxes::Column::TenantId.eq(tenant))
            .filter(mailboxes::Column::Id.eq(s.row.mailbox.id))
            .exec(store.conn())
            .await
            .map_err(|e| store_error("mailbox cap", &e.into()))?;
        caps.insert(s.address().to_owned(), (cap, s));
    }
    let rows: Vec<Value> = match given {
        // the records given, each with its cap added (unknown ids get none)
        Some(records) => records
            .into_iter()
            .map(|mut record| {
                let id = record
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_lowercase);
                if let (Some((cap, _)), Some(obj)) =
                    (id.and_then(|id| caps.get(&id)), record.as_object_mut())
                {
                    obj.insert("cap_today".into(), json!(cap));
                }
                record
            })
            .collect(),
        None => senders
            .iter()
            .map(|s| {
                json!({
                    "id": s.address(), "domain": s.view.domain, "age_days": s.view.age_days,
                    "tier": tier_text(s.view.tier()),
                    "cap_today": caps.get(s.address()).map_or(0, |(cap, _)| *cap),
                })
            })
            .collect(),
    };
    Ok(json!({"mailboxes": rows}))
}

/// `deliverability.rotate`.
async fn rotate(store: &Store, tenant: Uuid, now: DateTime<Utc>) -> Result<Value, StepError> {
    let senders = senders(store, tenant, now).await?;
    let views: Vec<Mailbox> = senders.iter().map(|s| s.view.clone()).collect();
    let order: Vec<&str> = rotation(&senders)
        .into_iter()
        .map(|i| senders[i].address())
        .collect();
    let mut sending: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &senders {
        let may = !s.view.paused
            && s.view.tier().may_send()
            && domain_tier(&views, &s.view.domain).may_send();
        *sending.entry(s.view.domain.as_str()).or_default() += usize::from(may);
    }
    let short: Vec<&str> = sending
        .into_iter()
        .filter(|(_, n)| *n < MIN_MAILBOXES_PER_DOMAIN)
        .map(|(d, _)| d)
        .collect();
    Ok(json!({"order": order, "domains_short_of_mailboxes": short}))
}
