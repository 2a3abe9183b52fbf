//! Campaign analytics: metrics from provider events, honest open counting, A/B
//! significance with guardrails, trends and recommendations.
//!
//! # Counting (per message, each outcome once)
//! - `sent`, `delivered`, `human_opens`, `clicks`, `replies`, `positive_replies`,
//!   `bounces` (hard), `complaints`, `unsubscribes`, `meetings`: messages with at least
//!   one such event.
//! - Rates: bounces over sent; everything else over delivered (0 when nothing was).
//!
//! # Machine opens (excluded from `human_opens`)
//! DOMAIN.md: exclude machine opens (SendGrid's `sg_machine_open`, which flags Apple Mail
//! Privacy Protection prefetches). Chosen additions: a user agent that is exactly
//! `Mozilla/5.0` (Apple's MPP proxy sends nothing more), a user agent naming a bot or a
//! link scanner ([`BOT_USER_AGENT_TOKENS`]), and any open less than
//! [`MACHINE_OPEN_SECONDS`] = 10 s after delivery (security gateways fetch pixels on
//! arrival; people rarely open that fast).

pub mod experiment;
pub mod recommend;
pub mod stats;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use experiment::{Breach, ExperimentReport, Guardrails, Verdict, judge_experiment};
pub use recommend::{Recommendation, RecommendationInput, RecommendationKind, recommend};
pub use stats::{ZTest, erfc, normal_cdf, two_proportion_z_test};

/// Opens sooner than this after delivery are machine opens (chosen).
pub const MACHINE_OPEN_SECONDS: i64 = 10;

/// Lower-case user-agent fragments of bots and link scanners.
pub const BOT_USER_AGENT_TOKENS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "python-requests",
    "curl/",
    "wget",
    "headlesschrome",
    "phantomjs",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "forcepoint",
    "trendmicro",
    "microsoft office protection",
];

/// What happened to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Sent,
    Delivered,
    Open {
        user_agent: Option<String>,
        /// SendGrid's `sg_machine_open`.
        #[serde(default)]
        machine_open: bool,
    },
    Click,
    Reply {
        positive: bool,
    },
    Bounce {
        hard: bool,
    },
    Complaint,
    Unsubscribe,
    MeetingBooked,
}

/// One provider or engine event about one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEvent {
    pub message_id: String,
    pub variant: Option<String>,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
}

/// Whether an open was made by a machine (see module docs).
pub fn is_machine_open(
    user_agent: Option<&str>,
    flagged: bool,
    opened_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
) -> bool {
    let ua = user_agent
        .map(|u| u.trim().to_lowercase())
        .unwrap_or_default();
    let mpp_proxy = ua == "mozilla/5.0";
    let bot = BOT_USER_AGENT_TOKENS.iter().any(|t| ua.contains(t));
    let instant = delivered_at.is_some_and(|d| {
        let after = opened_at.signed_duration_since(d);
        after >= Duration::zero() && after < Duration::seconds(MACHINE_OPEN_SECONDS)
    });
    flagged || mpp_proxy || bot || instant
}

/// Counts and rates of a set of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CampaignMetrics {
    pub sent: u64,
    pub delivered: u64,
    pub human_opens: u64,
    pub machine_opens: u64,
    pub clicks: u64,
    pub replies: u64,
    pub positive_replies: u64,
    pub bounces: u64,
    pub complaints: u64,
    pub unsubscribes: u64,
    pub meetings: u64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl CampaignMetrics {
    pub fn open_rate(&self) -> f64 {
        ratio(self.human_opens, self.delivered)
    }
    pub fn reply_rate(&self) -> f64 {
        ratio(self.replies, self.delivered)
    }
    pub fn positive_reply_rate(&self) -> f64 {
        ratio(self.positive_replies, self.delivered)
    }
    pub fn bounce_rate(&self) -> f64 {
        ratio(self.bounces, self.sent)
    }
    pub fn complaint_rate(&self) -> f64 {
        ratio(self.complaints, self.delivered)
    }
    pub fn unsubscribe_rate(&self) -> f64 {
        ratio(self.unsubscribes, self.delivered)
    }
    pub fn meeting_rate(&self) -> f64 {
        ratio(self.meetings, self.delivered)
    }
}

#[derive(Default)]
struct MessageOutcome {
    sent: bool,
    delivered_at: Option<DateTime<Utc>>,
    opens: Vec<(Option<String>, bool, DateTime<Utc>)>,
    clicked: bool,
    replied: bool,
    positive: bool,
    hard_bounced: bool,
    complained: bool,
    unsubscribed: bool,
    meeting: bool,
}

fn outcomes<'a>(
    events: impl IntoIterator<Item = &'a MessageEvent>,
) -> BTreeMap<&'a str, MessageOutcome> {
    let mut by_message: BTreeMap<&str, MessageOutcome> = BTreeMap::new();
    for e in events {
        let o = by_message.entry(e.message_id.as_str()).or_default();
        match &e.kind {
            EventKind::Sent => o.sent = true,
            EventKind::Delivered => {
                o.delivered_at = Some(o.delivered_at.map_or(e.at, |d| d.min(e.at)))
            }
            EventKind::Open {
                user_agent,
                machine_open,
            } => o.opens.push((user_agent.clone(), *machine_open, e.at)),
            EventKind::Click => o.clicked = true,
            EventKind::Reply { positive } => {
                o.replied = true;
                o.positive |= *positive;
            }
            EventKind::Bounce { hard } => o.hard_bounced |= *hard,
            EventKind::Complaint => o.complained = true,
            EventKind::Unsubscribe => o.unsubscribed = true,
            EventKind::MeetingBooked => o.meeting = true,
        }
    }
    by_message
}

fn tally(outcomes: &BTreeMap<&str, MessageOutcome>) -> CampaignMetrics {
    let mut m = CampaignMetrics::default();
    for o in outcomes.values() {
        let count = |flag: bool| u64::from(flag);
        // A delivered, bounced or answered message was sent even if `Sent` got lost.
        m.sent += count(o.sent || o.delivered_at.is_some() || o.hard_bounced);
        m.delivered += count(o.delivered_at.is_some());
        let human = o
            .opens
            .iter()
            .any(|(ua, flag, at)| !is_machine_open(ua.as_deref(), *flag, *at, o.delivered_at));
        m.human_opens += count(human);
        m.machine_opens += count(!human && !o.opens.is_empty());
        m.clicks += count(o.clicked);
        m.replies += count(o.replied);
        m.positive_replies += count(o.positive);
        m.bounces += count(o.hard_bounced);
        m.complaints += count(o.complained);
        m.unsubscribes += count(o.unsubscribed);
        m.meetings += count(o.meeting);
    }
    m
}

/// Metrics over all events.
pub fn campaign_metrics(events: &[MessageEvent]) -> CampaignMetrics {
    tally(&outcomes(events))
}

/// Metrics per A/B variant (events without a variant are left out).
pub fn metrics_by_variant(events: &[MessageEvent]) -> BTreeMap<String, CampaignMetrics> {
    let mut groups: BTreeMap<&str, Vec<&MessageEvent>> = BTreeMap::new();
    for e in events {
        if let Some(v) = e.variant.as_deref() {
            groups.entry(v).or_default().push(e);
        }
    }
    groups
        .into_iter()
        .map(|(v, evs)| (v.to_owned(), tally(&outcomes(evs))))
        .collect()
}

/// Trend bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    /// ISO weeks, starting on Monday.
    Week,
}

/// The metrics of the messages first seen (usually sent) in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub start: NaiveDate,
    pub metrics: CampaignMetrics,
}

fn bucket_start(at: DateTime<Utc>, bucket: Bucket) -> NaiveDate {
    let day = at.date_naive();
    match bucket {
        Bucket::Day => day,
        Bucket::Week => day
            .checked_sub_signed(Duration::days(i64::from(
                day.weekday().num_days_from_monday(),
            )))
            .unwrap_or(day),
    }
}

/// Cohort trends: each message counts in the bucket (UTC) of its earliest event, with
/// all its later outcomes, so a reply a week later still credits the send day.
pub fn trends(events: &[MessageEvent], bucket: Bucket) -> Vec<TrendPoint> {
    let mut first_seen: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for e in events {
        let t = first_seen.entry(e.message_id.as_str()).or_insert(e.at);
        *t = (*t).min(e.at);
    }
    let mut by_bucket: BTreeMap<NaiveDate, Vec<&MessageEvent>> = BTreeMap::new();
    for e in events {
        let start = first_seen.get(e.message_id.as_str()).map_or(e.at, |t| *t);
        by_bucket
            .entry(bucket_start(start, bucket))
            .or_default()
            .push(e);
    }
    by_bucket
        .into_iter()
        .map(|(start, evs)| TrendPoint {
            start,
            metrics: tally(&outcomes(evs)),
        })
        .collect()
}

#[cfg(test)]
mod tests;
