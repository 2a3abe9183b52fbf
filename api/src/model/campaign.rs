//! The JSON of campaign analytics (`/v1/campaigns`): the funnel, the A/B variants with
//! their significance, the trend buckets and the recommendations, built by
//! `routes::campaigns` from `rex-domain`'s analytics over the stored events.

use chrono::{DateTime, NaiveDate, Utc};
use rex_domain::analytics::CampaignMetrics;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The tenant's campaigns, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignList {
    pub items: Vec<CampaignSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignSummary {
    pub name: String,
    /// `active`, or what the campaign's owner set.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Parameters of `GET /v1/campaigns/{name}/report`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Trend bucket: `day` (default) or `week` (ISO weeks, from Monday), in UTC.
    pub bucket: Option<String>,
}

/// Messages reaching each stage, each message counted once per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Funnel {
    pub sent: u64,
    pub delivered: u64,
    pub replied: u64,
    /// Replies classified positive.
    pub positive: u64,
    /// Meetings booked.
    pub booked: u64,
    pub unsubscribed: u64,
    /// Hard bounces.
    pub bounced: u64,
}

/// Every count of a set of messages (machine opens are not human opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MetricsView {
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

/// Rates as fractions (0.012 is 1.2%): bounces over sent, the rest over delivered;
/// 0 when the denominator is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatesView {
    pub open: f64,
    pub reply: f64,
    pub positive_reply: f64,
    pub bounce: f64,
    pub complaint: f64,
    pub unsubscribe: f64,
    pub meeting: f64,
}

/// A variant's positive-reply rate against the leading variant's: pooled
/// two-proportion z-test, significant below `alpha` (0.05, Bonferroni-corrected for
/// the number of comparisons).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Significance {
    /// The variant compared against (the leader).
    pub against: String,
    pub z: f64,
    pub p_value: f64,
    pub alpha: f64,
    pub significant: bool,
}

/// A guardrail a variant broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BreachView {
    /// `unsubscribes` or `complaints`.
    pub guardrail: String,
    pub rate: f64,
    pub max: f64,
}

/// One A/B variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VariantView {
    pub variant: String,
    pub metrics: MetricsView,
    pub rates: RatesView,
    /// The variant with the highest positive-reply rate.
    pub leader: bool,
    /// Null for the leader, and when the test cannot be run (no delivered message,
    /// no variance).
    pub significance: Option<Significance>,
    pub breaches: Vec<BreachView>,
}

/// The experiment's verdict (`winner` or `no_winner`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExperimentView {
    pub verdict: String,
    pub winner: Option<String>,
    /// Why there is no winner.
    pub reason: Option<String>,
    /// The winner's largest p-value against the others.
    pub max_p_value: Option<f64>,
}

/// The messages first seen in one bucket, with all their later outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendView {
    /// The bucket's first day (UTC).
    pub start: NaiveDate,
    pub metrics: MetricsView,
    pub rates: RatesView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecommendationView {
    /// `pause_domain`, `throttle_domain`, `stop_variant`, `promote_variant`,
    /// `switch_framework`, `change_send_time` or `re_enrich_stale_data`.
    pub kind: String,
    /// The domain, variant, framework or hour concerned.
    pub target: String,
    pub reason: String,
}

/// `GET /v1/campaigns/{name}/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CampaignReport {
    pub campaign: String,
    pub status: String,
    /// Messages the campaign holds (intents, sent or not).
    pub messages: u64,
    /// Events counted (sends and provider events tied to its messages).
    pub events: u64,
    pub funnel: Funnel,
    pub metrics: MetricsView,
    pub rates: RatesView,
    pub variants: Vec<VariantView>,
    pub experiment: ExperimentView,
    /// `day` or `week`.
    pub bucket: String,
    pub trends: Vec<TrendView>,
    pub recommendations: Vec<RecommendationView>,
}

impl From<&CampaignMetrics> for MetricsView {
    fn from(m: &CampaignMetrics) -> Self {
        Self {
            sent: m.sent,
            delivered: m.delivered,
            human_opens: m.human_opens,
            machine_opens: m.machine_opens,
            clicks: m.clicks,
            replies: m.replies,
            positive_replies: m.positive_replies,
            bounces: m.bounces,
            complaints: m.complaints,
            unsubscribes: m.unsubscribes,
            meetings: m.meetings,
        }
    }
}

impl From<&CampaignMetrics> for RatesView {
    fn from(m: &CampaignMetrics) -> Self {
        Self {
            open: m.open_rate(),
            reply: m.reply_rate(),
            positive_reply: m.positive_reply_rate(),
            bounce: m.bounce_rate(),
            complaint: m.complaint_rate(),
            unsubscribe: m.unsubscribe_rate(),
            meeting: m.meeting_rate(),
        }
    }
}

impl From<&CampaignMetrics> for Funnel {
    fn from(m: &CampaignMetrics) -> Self {
        Self {
            sent: m.sent,
            delivered: m.delivered,
            replied: m.replies,
            positive: m.positive_replies,
            booked: m.meetings,
            unsubscribed: m.unsubscribes,
            bounced: m.bounces,
        }
    }
}
