//! Judging an A/B test honestly (DOMAIN.md, "Honest A/B tests": judge on positive-reply
//! rate with unsubscribe and complaint guardrails).
//!
//! 1. Every variant needs [`Guardrails::min_delivered`] = 100 delivered messages (chosen:
//!    below that a z-test on reply rates of a few percent has almost no power).
//! 2. A variant breaches a guardrail when its unsubscribe rate is ≥ 1.0% (chosen: cold
//!    outreach above 1% unsubscribes is burning the list) or its complaint rate is
//!    ≥ 0.10% (Google's line, DOMAIN.md). A breaching variant can never win, however well
//!    it does on replies; it is reported so it can be stopped.
//! 3. Among the others, the one with the highest positive-reply rate wins if a pooled
//!    two-proportion z-test shows it higher than each other eligible variant at
//!    α = 0.05, Bonferroni-corrected for the number of comparisons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CampaignMetrics;
use super::stats::two_proportion_z_test;

/// Decision thresholds of an experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Guardrails {
    pub alpha: f64,
    pub min_delivered: u64,
    pub max_unsubscribe_rate: f64,
    pub max_complaint_rate: f64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Guardrails {
            alpha: 0.05,
            min_delivered: 100,
            max_unsubscribe_rate: 0.01,
            max_complaint_rate: 0.001,
        }
    }
}

/// A guardrail a variant broke.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "guardrail", rename_all = "snake_case")]
pub enum Breach {
    Unsubscribes { rate: f64, max: f64 },
    Complaints { rate: f64, max: f64 },
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Winner {
        variant: String,
        positive_reply_rate: f64,
        max_p_value: f64,
    },
    NoWinner {
        reason: String,
    },
}

/// The verdict and every variant's guardrail breaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub verdict: Verdict,
    pub breaches: BTreeMap<String, Vec<Breach>>,
}

/// The guardrails a variant breaks.
pub fn breaches(m: &CampaignMetrics, g: &Guardrails) -> Vec<Breach> {
    let mut out = Vec::new();
    if m.delivered > 0 && m.unsubscribe_rate() >= g.max_unsubscribe_rate {
        out.push(Breach::Unsubscribes {
            rate: m.unsubscribe_rate(),
            max: g.max_unsubscribe_rate,
        });
    }
    if m.delivered > 0 && m.complaint_rate() >= g.max_complaint_rate {
        out.push(Breach::Complaints {
            rate: m.complaint_rate(),
            max: g.max_complaint_rate,
        });
    }
    out
}

fn no_winner(reason: String, breaches: BTreeMap<String, Vec<Breach>>) -> ExperimentReport {
    ExperimentReport {
        verdict: Verdict::NoWinner { reason },
        breaches,
    }
}

/// Judges variants (name → metrics) under the guardrails.
pub fn judge_experiment(
    variants: &BTreeMap<String, CampaignMetrics>,
    g: &Guardrails,
) -> ExperimentReport {
    let all_breaches: BTreeMap<String, Vec<Breach>> = variants
        .iter()
        .map(|(name, m)| (name.clone(), breaches(m, g)))
        .filter(|(_, b)| !b.is_empty())
        .collect();
    if variants.len() < 2 {
        return no_winner(
            "an experiment needs at least two variants".into(),
            all_breaches,
        );
    }
    if let Some((name, m)) = variants.iter().find(|(_, m)| m.delivered < g.min_delivered) {
        let reason = format!(
            "variant \"{name}\" has {} delivered, needs {}",
            m.delivered, g.min_delivered
        );
        return no_winner(reason, all_breaches);
    }
    let eligible: Vec<(&String, &CampaignMetrics)> = variants
        .iter()
        .filter(|(name, _)| !all_breaches.contains_key(*name))
        .collect();
    // Highest rate; on a tie the smaller name, so the verdict is deterministic.
    let Some(&(leader, lm)) = eligible.iter().max_by(|(an, a), (bn, b)| {
        a.positive_reply_rate()
            .total_cmp(&b.positive_reply_rate())
            .then(bn.cmp(an))
    }) else {
        return no_winner("every variant breaches a guardrail".into(), all_breaches);
    };
    if eligible.len() < 2 {
        let reason =
            format!("only \"{leader}\" stays within the guardrails; nothing to compare it with");
        return no_winner(reason, all_breaches);
    }
    let comparisons = eligible.len() - 1;
    let alpha = g.alpha / comparisons as f64;
    let mut max_p: f64 = 0.0;
    for &(name, m) in eligible.iter().filter(|(name, _)| *name != leader) {
        let significant = two_proportion_z_test(
            lm.positive_replies,
            lm.delivered,
            m.positive_replies,
            m.delivered,
        )
        .filter(|t| t.z > 0.0 && t.p_value < alpha);
        match significant {
            Some(t) => max_p = max_p.max(t.p_value),
            None => {
                let reason = format!(
                    "\"{leader}\" leads but is not significantly ahead of \"{name}\" (α = {alpha:.4})"
                );
                return no_winner(reason, all_breaches);
            }
        }
    }
    let verdict = Verdict::Winner {
        variant: leader.clone(),
        positive_reply_rate: lm.positive_reply_rate(),
        max_p_value: max_p,
    };
    ExperimentReport {
        verdict,
        breaches: all_breaches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(delivered: u64, positive: u64, unsubscribes: u64, complaints: u64) -> CampaignMetrics {
        CampaignMetrics {
            sent: delivered,
            delivered,
            positive_replies: positive,
            replies: positive,
            unsubscribes,
            complaints,
            ..CampaignMetrics::default()
        }
    }

    fn variants(list: &[(&str, CampaignMetrics)]) -> BTreeMap<String, CampaignMetrics> {
        list.iter().map(|(n, m)| ((*n).to_owned(), *m)).collect()
    }

    fn winner(report: &ExperimentReport) -> Option<&str> {
        match &report.verdict {
            Verdict::Winner { variant, .. } => Some(variant),
            Verdict::NoWinner { .. } => None,
        }
    }

    #[test]
    fn a_clear_and_clean_leader_wins() {
        let r = judge_experiment(
            &variants(&[("a", m(1000, 60, 2, 0)), ("b", m(1000, 40, 2, 0))]),
            &Guardrails::default(),
        );
        assert_eq!(winner(&r), Some("a"));
        assert!(r.breaches.is_empty());
    }

    #[test]
    fn a_leader_that_breaches_unsubscribes_is_not_declared_winner() {
        // b wins on replies but 1.0% unsubscribes: exactly at the limit is a breach.
        let r = judge_experiment(
            &variants(&[("a", m(1000, 40, 9, 0)), ("b", m(1000, 90, 10, 0))]),
            &Guardrails::default(),
        );
        assert_eq!(winner(&r), None);
        assert_eq!(
            r.breaches["b"],
            [Breach::Unsubscribes {
                rate: 0.01,
                max: 0.01
            }]
        );
        assert!(!r.breaches.contains_key("a"), "0.9% is under the line");
    }

    #[test]
    fn complaints_at_googles_line_breach() {
        let r = judge_experiment(
            &variants(&[("a", m(2000, 40, 0, 1)), ("b", m(2000, 90, 0, 2))]),
            &Guardrails::default(),
        );
        assert_eq!(
            r.breaches["b"],
            [Breach::Complaints {
                rate: 0.001,
                max: 0.001
            }]
        );
        assert!(!r.breaches.contains_key("a"));
        assert_eq!(winner(&r), None);
    }

    #[test]
    fn too_little_data_or_no_significance_means_no_winner() {
        let g = Guardrails::default();
        let r = judge_experiment(
            &variants(&[("a", m(99, 20, 0, 0)), ("b", m(100, 1, 0, 0))]),
            &g,
        );
        assert_eq!(
            r.verdict,
            Verdict::NoWinner {
                reason: "variant \"a\" has 99 delivered, needs 100".into()
            }
        );
        let r = judge_experiment(
            &variants(&[("a", m(1000, 45, 0, 0)), ("b", m(1000, 40, 0, 0))]),
            &g,
        );
        assert_eq!(winner(&r), None);
        let r = judge_experiment(&variants(&[("a", m(1000, 45, 0, 0))]), &g);
        assert_eq!(winner(&r), None);
    }

    #[test]
    fn three_variants_need_the_corrected_alpha() {
        // p ≈ 0.040 against each: significant at 0.05 but not at 0.05 / 2.
        let r = judge_experiment(
            &variants(&[
                ("a", m(1000, 60, 0, 0)),
                ("b", m(1000, 40, 0, 0)),
                ("c", m(1000, 40, 0, 0)),
            ]),
            &Guardrails::default(),
        );
        assert_eq!(winner(&r), None);
        let r = judge_experiment(
            &variants(&[
                ("a", m(1000, 70, 0, 0)),
                ("b", m(1000, 40, 0, 0)),
                ("c", m(1000, 40, 0, 0)),
            ]),
            &Guardrails::default(),
        );
        assert_eq!(winner(&r), Some("a"));
    }
}
