//! Recommendations, each with its reason. Kinds and triggers (thresholds chosen unless
//! cited):
//!
//! | kind | trigger |
//! | --- | --- |
//! | `pause_domain` | a sending domain in tier `paused` or `blocked` (`deliverability`) |
//! | `throttle_domain` | a sending domain in tier `warning` (its caps are halved) |
//! | `stop_variant` | an A/B variant breaching the unsubscribe or complaint guardrail |
//! | `promote_variant` | an A/B winner |
//! | `switch_framework` | the best framework's positive-reply rate beats the worst's, z-test p < 0.05, both with ≥ 100 delivered |
//! | `change_send_time` | the best lead-local send hour beats the busiest hour on reply rate, p < 0.05, both ≥ 100 delivered |
//! | `re_enrich_stale_data` | ≥ 20% of active leads have enrichment older than 30 days (DOMAIN.md cache), or the campaign bounce rate is ≥ 1.5% (the `warning` line) |

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CampaignMetrics;
use super::experiment::{ExperimentReport, Verdict};
use super::stats::two_proportion_z_test;
use crate::deliverability::{BOUNCE_LINES, HealthTier};
use crate::personalizer::Framework;

pub const MIN_DELIVERED: u64 = 100;
pub const ALPHA: f64 = 0.05;
pub const STALE_SHARE: f64 = 0.20;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecommendationKind {
    PauseDomain,
    ThrottleDomain,
    StopVariant,
    PromoteVariant,
    SwitchFramework,
    ChangeSendTime,
    ReEnrichStaleData,
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    /// The domain, variant, framework or hour concerned.
    pub target: String,
    pub reason: String,
}

/// Everything the recommender looks at.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RecommendationInput {
    pub campaign: CampaignMetrics,
    pub domains: BTreeMap<String, HealthTier>,
    pub experiment: Option<ExperimentReport>,
    pub by_framework: BTreeMap<Framework, CampaignMetrics>,
    /// Keyed by the lead-local hour (0..=23) the message was sent.
    pub by_send_hour: BTreeMap<u8, CampaignMetrics>,
    /// Share of active leads whose enrichment is older than 30 days, `0.0..=1.0`.
    pub stale_enrichment_share: f64,
}

fn rec(kind: RecommendationKind, target: impl Into<String>, reason: String) -> Recommendation {
    Recommendation {
        kind,
        target: target.into(),
        reason,
    }
}

fn domains(input: &RecommendationInput, out: &mut Vec<Recommendation>) {
    for (domain, tier) in &input.domains {
        match tier {
            HealthTier::Paused | HealthTier::Blocked => out.push(rec(
                RecommendationKind::PauseDomain,
                domain,
                format!("{domain} is {tier:?}: bounce or complaint rate over the pause line"),
            )),
            HealthTier::Warning => out.push(rec(
                RecommendationKind::ThrottleDomain,
                domain,
                format!("{domain} is in Warning: halve its volume until the rates recover"),
            )),
            HealthTier::Excellent | HealthTier::Good => {}
        }
    }
}

fn experiment(input: &RecommendationInput, out: &mut Vec<Recommendation>) {
    let Some(report) = &input.experiment else {
        return;
    };
    for (variant, breaches) in &report.breaches {
        out.push(rec(
            RecommendationKind::StopVariant,
            variant,
            format!("variant {variant} breaches {breaches:?}"),
        ));
    }
    if let Verdict::Winner {
        variant,
        positive_reply_rate,
        max_p_value,
    } = &report.verdict
    {
        out.push(rec(
            RecommendationKind::PromoteVariant,
            variant,
            format!("{variant} wins with {:.2}% positive replies (p ≤ {max_p_value:.4}) within the guardrails", positive_reply_rate * 100.0),
        ));
    }
}

/// The best and the worst keys on a rate, among groups with enough data.
fn best_and_worst<K: Copy + Ord>(
    groups: &BTreeMap<K, CampaignMetrics>,
    rate: fn(&CampaignMetrics) -> f64,
) -> Option<(K, K)> {
    let big: Vec<(K, &CampaignMetrics)> = groups
        .iter()
        .filter(|(_, m)| m.delivered >= MIN_DELIVERED)
        .map(|(k, m)| (*k, m))
        .collect();
    let best = big
        .iter()
        .max_by(|a, b| rate(a.1).total_cmp(&rate(b.1)).then(b.0.cmp(&a.0)))?;
    let worst = big
        .iter()
        .min_by(|a, b| rate(a.1).total_cmp(&rate(b.1)).then(a.0.cmp(&b.0)))?;
    Some((best.0, worst.0))
}

fn significantly_better(
    a: &CampaignMetrics,
    b: &CampaignMetrics,
    count: fn(&CampaignMetrics) -> u64,
) -> Option<f64> {
    two_proportion_z_test(count(a), a.delivered, count(b), b.delivered)
        .filter(|t| t.z > 0.0 && t.p_value < ALPHA)
        .map(|t| t.p_value)
}

fn framework(input: &RecommendationInput, out: &mut Vec<Recommendation>) {
    let Some((best, worst)) =
        best_and_worst(&input.by_framework, CampaignMetrics::positive_reply_rate)
    else {
        return;
    };
    let (b, w) = (&input.by_framework[&best], &input.by_framework[&worst]);
    if let Some(p) = significantly_better(b, w, |m| m.positive_replies) {
        out.push(rec(
            RecommendationKind::SwitchFramework,
            format!("{worst:?}"),
            format!(
                "switch steps from {worst:?} ({:.2}%) to {best:?} ({:.2}%) positive replies, p = {p:.4}",
                w.positive_reply_rate() * 100.0,
                b.positive_reply_rate() * 100.0
            ),
        ));
    }
}

fn send_time(input: &RecommendationInput, out: &mut Vec<Recommendation>) {
    let hours = &input.by_send_hour;
    let Some((best, _)) = best_and_worst(hours, CampaignMetrics::reply_rate) else {
        return;
    };
    let Some((&busiest, busy)) = hours
        .iter()
        .filter(|(_, m)| m.delivered >= MIN_DELIVERED)
        .max_by(|a, b| a.1.delivered.cmp(&b.1.delivered).then(b.0.cmp(a.0)))
    else {
        return;
    };
    if best == busiest {
        return;
    }
    if let Some(p) = significantly_better(&hours[&best], busy, |m| m.replies) {
        out.push(rec(
            RecommendationKind::ChangeSendTime,
            format!("{best:02}:00"),
            format!(
                "sends at {best:02}:00 get {:.2}% replies against {:.2}% at {busiest:02}:00, where most go out (p = {p:.4})",
                hours[&best].reply_rate() * 100.0,
                busy.reply_rate() * 100.0
            ),
        ));
    }
}

fn enrichment(input: &RecommendationInput, out: &mut Vec<Recommendation>) {
    let stale = input.stale_enrichment_share;
    let bounce = input.campaign.bounce_rate();
    let warning_line = BOUNCE_LINES[1];
    let reason = if stale >= STALE_SHARE {
        format!(
            "{:.0}% of active leads were enriched more than 30 days ago",
            stale * 100.0
        )
    } else if input.campaign.sent > 0 && bounce >= warning_line {
        format!(
            "campaign bounce rate {:.2}% is at or over {:.1}%: verify and re-enrich",
            bounce * 100.0,
            warning_line * 100.0
        )
    } else {
        return;
    };
    out.push(rec(
        RecommendationKind::ReEnrichStaleData,
        "campaign",
        reason,
    ));
}

/// Every recommendation that applies, most urgent kind first.
pub fn recommend(input: &RecommendationInput) -> Vec<Recommendation> {
    let mut out = Vec::new();
    domains(input, &mut out);
    experiment(input, &mut out);
    framework(input, &mut out);
    send_time(input, &mut out);
    enrichment(input, &mut out);
    out.sort_by_key(|r| r.kind);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::experiment::{Breach, ExperimentReport};

    fn m(delivered: u64, replies: u64, positive: u64) -> CampaignMetrics {
        CampaignMetrics {
            sent: delivered,
            delivered,
            replies,
            positive_replies: positive,
            ..CampaignMetrics::default()
        }
    }

    fn kinds(input: &RecommendationInput) -> Vec<RecommendationKind> {
        recommend(input).into_iter().map(|r| r.kind).collect()
    }

    #[test]
    fn nothing_to_say_about_a_healthy_quiet_campaign() {
        assert!(recommend(&RecommendationInput::default()).is_empty());
    }

    #[test]
    fn sick_domains_are_paused_and_warning_ones_throttled() {
        let input = RecommendationInput {
            domains: [
                ("a.io".into(), HealthTier::Blocked),
                ("b.io".into(), HealthTier::Warning),
                ("c.io".into(), HealthTier::Good),
            ]
            .into(),
            ..RecommendationInput::default()
        };
        let recs = recommend(&input);
        assert_eq!(
            kinds(&input),
            [
                RecommendationKind::PauseDomain,
                RecommendationKind::ThrottleDomain
            ]
        );
        assert_eq!(
            (recs[0].target.as_str(), recs[1].target.as_str()),
            ("a.io", "b.io")
        );
    }

    #[test]
    fn experiments_promote_winners_and_stop_breaching_variants() {
        let report = ExperimentReport {
            verdict: Verdict::Winner {
                variant: "a".into(),
                positive_reply_rate: 0.06,
                max_p_value: 0.01,
            },
            breaches: [(
                "c".to_owned(),
                vec![Breach::Unsubscribes {
                    rate: 0.02,
                    max: 0.01,
                }],
            )]
            .into(),
        };
        let input = RecommendationInput {
            experiment: Some(report),
            ..RecommendationInput::default()
        };
        let recs = recommend(&input);
        assert_eq!(
            kinds(&input),
            [
                RecommendationKind::StopVariant,
                RecommendationKind::PromoteVariant
            ]
        );
        assert_eq!(
            (recs[0].target.as_str(), recs[1].target.as_str()),
            ("c", "a")
        );
    }

    #[test]
    fn a_significantly_worse_framework_is_switched() {
        let mut input = RecommendationInput {
            by_framework: [
                (Framework::Pas, m(1000, 80, 60)),
                (Framework::Fab, m(1000, 50, 40)),
                (Framework::Aida, m(99, 0, 0)),
            ]
            .into(),
            ..RecommendationInput::default()
        };
        let recs = recommend(&input);
        assert_eq!(kinds(&input), [RecommendationKind::SwitchFramework]);
        assert_eq!(recs[0].target, "Fab");
        input.by_framework.insert(Framework::Fab, m(1000, 50, 45));
        assert!(recommend(&input).is_empty(), "not significant");
    }

    #[test]
    fn a_better_hour_than_the_busiest_moves_the_send_time() {
        let input = RecommendationInput {
            by_send_hour: [(9, m(3000, 90, 0)), (14, m(500, 30, 0)), (20, m(50, 10, 0))].into(),
            ..RecommendationInput::default()
        };
        let recs = recommend(&input);
        assert_eq!(kinds(&input), [RecommendationKind::ChangeSendTime]);
        assert_eq!(recs[0].target, "14:00");
        let busiest_is_best = RecommendationInput {
            by_send_hour: [(9, m(3000, 300, 0)), (14, m(500, 30, 0))].into(),
            ..RecommendationInput::default()
        };
        assert!(recommend(&busiest_is_best).is_empty());
    }

    #[test]
    fn stale_data_or_bounces_trigger_re_enrichment_at_their_lines() {
        let at = |stale: f64, sent: u64, bounces: u64| RecommendationInput {
            stale_enrichment_share: stale,
            campaign: CampaignMetrics {
                sent,
                bounces,
                ..CampaignMetrics::default()
            },
            ..RecommendationInput::default()
        };
        assert_eq!(
            kinds(&at(0.20, 0, 0)),
            [RecommendationKind::ReEnrichStaleData]
        );
        assert!(kinds(&at(0.19, 1000, 14)).is_empty());
        assert_eq!(
            kinds(&at(0.0, 1000, 15)),
            [RecommendationKind::ReEnrichStaleData]
        );
    }
}
