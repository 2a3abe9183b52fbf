//! The decision engine's rule layer: named production rules over a [`Facts`] snapshot.
//!
//! Decisions take three layers, cheapest first (DESIGN.md): the mission state machine,
//! then these rules, then an LLM reasoner with a deterministic fallback. [`evaluate`]
//! walks [`RULES`] in order of cost — 0: a field of the facts, 1: a looked-up flag or
//! counter, 2: a rate computed from counters, 3: a time-zone computation — and, within
//! one cost, in the declared order, which puts legal stops (suppression) before
//! everything else. The first rule that fires decides. When none fires, work that needs
//! an LLM goes to the LLM layer and a send proceeds.
//!
//! Every decision names its rule and layer, so a mission's timeline says *why*.
//! The catalogue, with thresholds and sources, is in [`catalog`].

pub mod catalog;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, ConsentFlags};
use crate::deliverability::SendStats;
use crate::outreach::{SendWindow, SuppressionReason};
use crate::replies::ReplyCategory;
use crate::scraper::Budget;

pub use catalog::RULES;

/// Which layer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    StateMachine,
    Rules,
    Llm,
    Fallback,
}

/// What the caller is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Pending {
    Send { channel: Channel },
    Enrich { cost: u32 },
    Personalize,
    ClassifyReply,
}

/// An inbound event not yet acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// A classified reply (email or SMS).
    Reply {
        category: ReplyCategory,
    },
    /// An inbound SMS not yet classified (STOP keywords are matched here).
    SmsInbound {
        body: String,
    },
    MeetingBooked,
    /// A List-Unsubscribe POST, a provider unsubscribe event or a form.
    Unsubscribe,
    Complaint,
    HardBounce,
}

/// Everything the rules look at. Time is an input, never read from a clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    pub now: DateTime<Utc>,
    pub pending: Pending,
    pub signal: Option<Signal>,
    /// Whether the lead's sequence is still running (from the mission state).
    pub sequence_active: bool,
    /// An active pause (e.g. out of office) ends here.
    pub paused_until: Option<DateTime<Utc>>,
    /// The ledger lookup for the address about to be used.
    pub suppressed: bool,
    pub country: Option<String>,
    pub consent: ConsentFlags,
    /// The lead's IANA time zone.
    pub time_zone: String,
    pub send_window: SendWindow,
    pub domain: String,
    pub domain_stats: SendStats,
    pub mailbox_age_days: u32,
    pub mailbox_sent_today: u32,
    pub mailbox_stats: SendStats,
    pub enrichment_budget: Budget,
    pub llm_available: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do: the sequence is over.
    Ignore,
    StopSequence,
    /// Write a ledger entry and stop the sequence.
    Suppress {
        reason: SuppressionReason,
    },
    /// Suppress the address and recount the sending domain's bounce rate.
    SuppressAndRecountDomain {
        domain: String,
    },
    PauseDomain {
        domain: String,
    },
    /// Pause the lead's sequence (out of office); later steps shift.
    PauseUntil {
        until: DateTime<Utc>,
    },
    /// Hold this send until then (quiet hours, window, cap).
    WaitUntil {
        until: DateTime<Utc>,
    },
    /// This channel may not be used for this lead.
    SkipChannel {
        channel: Channel,
    },
    SkipEnrichment,
    UseTemplate,
    UseDeterministicClassifier,
    AskLlm,
    Proceed,
}

/// A decision with the rule and layer that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: Action,
    pub rule: &'static str,
    pub layer: Layer,
    pub reason: String,
}

/// A named production rule.
pub struct Rule {
    pub name: &'static str,
    /// 0 field check, 1 looked-up flag or counter, 2 computed rate, 3 time-zone math.
    pub cost: u8,
    pub layer: Layer,
    /// `Some((action, reason))` when the rule fires.
    pub check: fn(&Facts) -> Option<(Action, String)>,
}

impl Rule {
    fn fire(&self, facts: &Facts) -> Option<Decision> {
        (self.check)(facts).map(|(action, reason)| Decision {
            action,
            rule: self.name,
            layer: self.layer,
            reason,
        })
    }
}

/// The rules in evaluation order: by cost, stable (declared order within one cost).
pub fn ordered_rules() -> Vec<&'static Rule> {
    let mut rules: Vec<&'static Rule> = RULES.iter().collect();
    rules.sort_by_key(|r| r.cost);
    rules
}

fn default_decision(facts: &Facts) -> Decision {
    match facts.pending {
        Pending::Personalize | Pending::ClassifyReply => Decision {
            action: Action::AskLlm,
            rule: "llm_reasoner",
            layer: Layer::Llm,
            reason: "no rule decides; the LLM writes or classifies, validated afterwards".into(),
        },
        Pending::Send { .. } | Pending::Enrich { .. } => Decision {
            action: Action::Proceed,
            rule: "all_gates_passed",
            layer: Layer::Rules,
            reason: "no rule objects".into(),
        },
    }
}

/// The decision for these facts: the first rule that fires, else the default.
pub fn evaluate(facts: &Facts) -> Decision {
    ordered_rules()
        .into_iter()
        .find_map(|r| r.fire(facts))
        .unwrap_or_else(|| default_decision(facts))
}

/// Every rule that fires, in evaluation order (for explanations and audits).
pub fn evaluate_all(facts: &Facts) -> Vec<Decision> {
    ordered_rules()
        .into_iter()
        .filter_map(|r| r.fire(facts))
        .collect()
}

#[cfg(test)]
mod tests;
