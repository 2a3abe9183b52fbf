//! Mailbox and domain health, warmup ramp and mailbox rotation.
//!
//! # Health tiers (DOMAIN.md, "Deliverability gates")
//!
//! A mailbox's (or a domain's) tier is the worse of its bounce tier and its complaint
//! tier. Rates are hard bounces and spam complaints over messages sent.
//!
//! | tier | hard-bounce rate | complaint rate | effect |
//! | --- | --- | --- | --- |
//! | `Excellent` | < 1.0% | < 0.05% | full warmup cap |
//! | `Good` | < 1.5% | < 0.08% | full warmup cap |
//! | `Warning` | < 1.8% | < 0.10% | half the warmup cap |
//! | `Paused` | < 3.0% | < 0.30% | no sends until reviewed |
//! | `Blocked` | ≥ 3.0% | ≥ 0.30% | hard stop |
//!
//! Sources: complaints stay under 0.10% and never reach 0.30% (Google's bulk-sender
//! rules), so 0.10% pauses and 0.30% is the hard stop. Bounces: auto-pause near 2% at
//! Instantly's default 1.8%; hard stop at 3% (the conservative end of Smartlead's and
//! WarmySender's 3–5%). The `Excellent`/`Good` lines (1.0% / 0.05%, 1.5% / 0.08%) are
//! chosen: half of and just below the limits, so a mailbox drifts through `Warning`
//! (and sends less) before it is paused.
//!
//! Small samples: one bounce in five sends is not a 20% bounce rate worth a hard stop.
//! Rates are therefore computed over `max(sent, 100)` for bounces and
//! `max(sent, 1000)` for complaints (chosen): one complaint in a small sample pauses
//! (0.10%), three block. The tier stays monotone in the counts.
//!
//! # Warmup (DOMAIN.md, conservative age-based cap)
//!
//! Daily cap by mailbox age in days: 5 (days 0–7), 10 (8–14), 15 (15–21), 20 (22–30),
//! 25 (31–45), 30 (46–60), 35 (61–90), 40 from day 91 on (within the 30–50/day that a
//! warmed mailbox carries including warmup sends).

use serde::{Deserialize, Serialize};

/// Hard-bounce rate lines, as fractions: Excellent < 1.0%, Good < 1.5%, Warning < 1.8%
/// (Instantly's auto-pause), Paused < 3.0% (hard stop from 3%).
pub const BOUNCE_LINES: [f64; 4] = [0.010, 0.015, 0.018, 0.030];
/// Complaint rate lines, as fractions: Excellent < 0.05%, Good < 0.08%, Warning < 0.10%
/// (Google), Paused < 0.30% (Google's never-reach line).
pub const COMPLAINT_LINES: [f64; 4] = [0.0005, 0.0008, 0.0010, 0.0030];
/// Denominator floor for bounce rates (chosen, see module docs).
pub const MIN_BOUNCE_SAMPLE: u32 = 100;
/// Denominator floor for complaint rates (chosen, see module docs).
pub const MIN_COMPLAINT_SAMPLE: u32 = 1000;
/// At most this many mailboxes per sending domain (DOMAIN.md: 3–5).
pub const MAX_MAILBOXES_PER_DOMAIN: usize = 5;
/// The warmup cap of a fully warmed mailbox (DOMAIN.md: 40 max).
pub const MAX_DAILY_CAP: u32 = 40;

/// Health of a mailbox or domain, best first. `Ord` follows badness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthTier {
    Excellent,
    Good,
    Warning,
    Paused,
    Blocked,
}

impl HealthTier {
    const BY_LINE: [HealthTier; 5] = [
        HealthTier::Excellent,
        HealthTier::Good,
        HealthTier::Warning,
        HealthTier::Paused,
        HealthTier::Blocked,
    ];

    /// Whether this tier may send at all.
    pub fn may_send(self) -> bool {
        self <= HealthTier::Warning
    }
}

/// Sending counters over the evaluation period (Rex uses a rolling 30 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendStats {
    pub sent: u32,
    pub hard_bounces: u32,
    pub complaints: u32,
}

impl SendStats {
    /// Adds two periods or two mailboxes (saturating).
    pub fn combined(self, other: SendStats) -> SendStats {
        SendStats {
            sent: self.sent.saturating_add(other.sent),
            hard_bounces: self.hard_bounces.saturating_add(other.hard_bounces),
            complaints: self.complaints.saturating_add(other.complaints),
        }
    }

    /// Hard bounces over `max(sent, MIN_BOUNCE_SAMPLE)`.
    pub fn bounce_rate(&self) -> f64 {
        f64::from(self.hard_bounces) / f64::from(self.sent.max(MIN_BOUNCE_SAMPLE))
    }

    /// Complaints over `max(sent, MIN_COMPLAINT_SAMPLE)`.
    pub fn complaint_rate(&self) -> f64 {
        f64::from(self.complaints) / f64::from(self.sent.max(MIN_COMPLAINT_SAMPLE))
    }
}

/// A tier with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthAssessment {
    pub tier: HealthTier,
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    pub reason: String,
}

fn tier_on_lines(rate: f64, lines: &[f64; 4]) -> HealthTier {
    // NaN compares false everywhere and so lands on Blocked: unknown is treated as worst.
    let index = lines
        .iter()
        .position(|line| rate < *line)
        .unwrap_or(lines.len());
    HealthTier::BY_LINE[index]
}

/// The tier for a bounce rate and a complaint rate given as fractions (0.018 = 1.8%).
pub fn tier_for_rates(bounce_rate: f64, complaint_rate: f64) -> HealthTier {
    tier_on_lines(bounce_rate, &BOUNCE_LINES).max(tier_on_lines(complaint_rate, &COMPLAINT_LINES))
}

/// Assesses counters: the tier, both rates and a sentence saying which one decided.
pub fn assess(stats: &SendStats) -> HealthAssessment {
    let bounce_rate = stats.bounce_rate();
    let complaint_rate = stats.complaint_rate();
    let by_bounce = tier_on_lines(bounce_rate, &BOUNCE_LINES);
    let by_complaint = tier_on_lines(complaint_rate, &COMPLAINT_LINES);
    let tier = by_bounce.max(by_complaint);
    let reason = if by_complaint > by_bounce {
        format!(
            "complaint rate {:.2}% puts it in {tier:?}",
            complaint_rate * 100.0
        )
    } else {
        format!(
            "bounce rate {:.2}% puts it in {tier:?}",
            bounce_rate * 100.0
        )
    };
    HealthAssessment {
        tier,
        bounce_rate,
        complaint_rate,
        reason,
    }
}

/// The warmup daily cap for a mailbox that is `age_days` old (DOMAIN.md's table).
pub fn warmup_daily_cap(age_days: u32) -> u32 {
    match age_days {
        0..=7 => 5,
        8..=14 => 10,
        15..=21 => 15,
        22..=30 => 20,
        31..=45 => 25,
        46..=60 => 30,
        61..=90 => 35,
        _ => MAX_DAILY_CAP,
    }
}

/// The cap after health: full for `Excellent`/`Good`, half (rounded down, at least 1)
/// for `Warning` (chosen: throttle rather than stop), zero for `Paused`/`Blocked`.
pub fn effective_daily_cap(age_days: u32, tier: HealthTier) -> u32 {
    let cap = warmup_daily_cap(age_days);
    match tier {
        HealthTier::Excellent | HealthTier::Good => cap,
        HealthTier::Warning => (cap / 2).max(1),
        HealthTier::Paused | HealthTier::Blocked => 0,
    }
}

/// One sending mailbox as rotation sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: String,
    pub domain: String,
    pub age_days: u32,
    pub sent_today: u32,
    /// Rolling-window counters of this mailbox alone.
    pub stats: SendStats,
    /// Paused by an operator or an earlier decision.
    pub paused: bool,
}

impl Mailbox {
    pub fn tier(&self) -> HealthTier {
        assess(&self.stats).tier
    }

    /// Sends left today after warmup and health.
    pub fn remaining_today(&self) -> u32 {
        effective_daily_cap(self.age_days, self.tier()).saturating_sub(self.sent_today)
    }
}

/// The tier of a whole domain: its mailboxes' counters added up.
pub fn domain_tier(mailboxes: &[Mailbox], domain: &str) -> HealthTier {
    let stats = mailboxes
        .iter()
        .filter(|m| m.domain.eq_ignore_ascii_case(domain))
        .fold(SendStats::default(), |acc, m| acc.combined(m.stats));
    assess(&stats).tier
}

/// Picks the mailbox for the next send: never a paused one, never one whose own or whose
/// domain's tier forbids sending, never one without cap left. Among the rest: best own
/// tier, then best domain tier, then most sends left, then fewest sent today, then the
/// smallest id, so the choice is deterministic.
pub fn pick_mailbox(mailboxes: &[Mailbox]) -> Option<&Mailbox> {
    mailboxes
        .iter()
        .filter(|m| !m.paused)
        .map(|m| (m, m.tier(), domain_tier(mailboxes, &m.domain)))
        .filter(|(m, tier, domain)| tier.may_send() && domain.may_send() && m.remaining_today() > 0)
        .min_by(|(a, a_tier, a_dom), (b, b_tier, b_dom)| {
            a_tier
                .cmp(b_tier)
                .then(a_dom.cmp(b_dom))
                .then(b.remaining_today().cmp(&a.remaining_today()))
                .then(a.sent_today.cmp(&b.sent_today))
                .then(a.id.cmp(&b.id))
        })
        .map(|(m, _, _)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stats(sent: u32, hard_bounces: u32, complaints: u32) -> SendStats {
        SendStats {
            sent,
            hard_bounces,
            complaints,
        }
    }

    fn mailbox(id: &str, domain: &str, age_days: u32, sent_today: u32) -> Mailbox {
        Mailbox {
            id: id.into(),
            domain: domain.into(),
            age_days,
            sent_today,
            stats: stats(1000, 0, 0),
            paused: false,
        }
    }

    #[test]
    fn bounce_lines_sit_exactly_at_the_documented_rates() {
        let t = |b| tier_for_rates(b, 0.0);
        assert_eq!(t(0.0), HealthTier::Excellent);
        assert_eq!(t(0.0099), HealthTier::Excellent);
        assert_eq!(t(0.010), HealthTier::Good);
        assert_eq!(t(0.0149), HealthTier::Good);
        assert_eq!(t(0.015), HealthTier::Warning);
        assert_eq!(t(0.0179), HealthTier::Warning);
        assert_eq!(t(0.018), HealthTier::Paused);
        assert_eq!(t(0.0299), HealthTier::Paused);
        assert_eq!(t(0.030), HealthTier::Blocked);
        assert_eq!(t(0.05), HealthTier::Blocked);
    }

    #[test]
    fn complaint_lines_follow_googles_point_one_and_point_three_percent() {
        let t = |c| tier_for_rates(0.0, c);
        assert_eq!(t(0.00049), HealthTier::Excellent);
        assert_eq!(t(0.0005), HealthTier::Good);
        assert_eq!(t(0.0008), HealthTier::Warning);
        assert_eq!(t(0.00099), HealthTier::Warning);
        assert_eq!(t(0.0010), HealthTier::Paused);
        assert_eq!(t(0.00299), HealthTier::Paused);
        assert_eq!(t(0.0030), HealthTier::Blocked);
    }

    #[test]
    fn the_worse_of_bounce_and_complaint_decides() {
        assert_eq!(tier_for_rates(0.016, 0.0011), HealthTier::Paused);
        assert_eq!(tier_for_rates(0.031, 0.0), HealthTier::Blocked);
    }

    #[test]
    fn nan_rates_are_treated_as_the_worst() {
        assert_eq!(tier_for_rates(f64::NAN, 0.0), HealthTier::Blocked);
    }

    #[test]
    fn small_samples_use_a_floored_denominator() {
        // 1 bounce in 5 sends counts as 1/100 = 1.0%: Good, not Blocked.
        assert_eq!(assess(&stats(5, 1, 0)).tier, HealthTier::Good);
        assert_eq!(assess(&stats(5, 2, 0)).tier, HealthTier::Paused);
        assert_eq!(assess(&stats(5, 3, 0)).tier, HealthTier::Blocked);
        // 1 complaint in 50 sends counts as 1/1000 = 0.10%: Paused.
        assert_eq!(assess(&stats(50, 0, 1)).tier, HealthTier::Paused);
        assert_eq!(assess(&stats(50, 0, 3)).tier, HealthTier::Blocked);
        // Large samples use the real rate: 18 in 1000 = 1.8%.
        assert_eq!(assess(&stats(1000, 17, 0)).tier, HealthTier::Warning);
        assert_eq!(assess(&stats(1000, 18, 0)).tier, HealthTier::Paused);
    }

    #[test]
    fn assessment_names_the_deciding_rate() {
        let a = assess(&stats(2000, 0, 3));
        assert_eq!(a.tier, HealthTier::Paused);
        assert!(a.reason.starts_with("complaint rate 0.15%"), "{}", a.reason);
    }

    #[test]
    fn warmup_cap_follows_the_table_at_every_boundary() {
        let expected = [
            (0, 5),
            (7, 5),
            (8, 10),
            (14, 10),
            (15, 15),
            (21, 15),
            (22, 20),
            (30, 20),
            (31, 25),
            (45, 25),
            (46, 30),
            (60, 30),
            (61, 35),
            (90, 35),
            (91, 40),
            (u32::MAX, 40),
        ];
        for (age, cap) in expected {
            assert_eq!(warmup_daily_cap(age), cap, "age {age}");
        }
    }

    #[test]
    fn warning_halves_the_cap_and_pause_zeroes_it() {
        assert_eq!(effective_daily_cap(100, HealthTier::Good), 40);
        assert_eq!(effective_daily_cap(100, HealthTier::Warning), 20);
        assert_eq!(effective_daily_cap(0, HealthTier::Warning), 2);
        assert_eq!(effective_daily_cap(100, HealthTier::Paused), 0);
    }

    #[test]
    fn rotation_prefers_the_healthiest_then_the_most_headroom() {
        let mut warm = mailbox("b", "acme.io", 100, 10);
        warm.stats = stats(1000, 12, 0); // Good
        let healthy = mailbox("c", "acme.io", 100, 30); // Excellent, 10 left
        let fresh = mailbox("a", "acme.io", 100, 0); // Excellent, 40 left
        let boxes = [warm, healthy, fresh];
        assert_eq!(pick_mailbox(&boxes).map(|m| m.id.as_str()), Some("a"));
    }

    #[test]
    fn rotation_breaks_ties_by_id() {
        let boxes = [mailbox("m2", "x.io", 100, 3), mailbox("m1", "x.io", 100, 3)];
        assert_eq!(pick_mailbox(&boxes).map(|m| m.id.as_str()), Some("m1"));
    }

    #[test]
    fn rotation_skips_paused_capped_and_sick_domains() {
        let mut paused = mailbox("a", "one.io", 100, 0);
        paused.paused = true;
        let capped = mailbox("b", "one.io", 3, 5);
        let mut sick = mailbox("c", "two.io", 100, 0);
        sick.stats = stats(1000, 0, 0);
        let mut sibling = mailbox("d", "two.io", 100, 0);
        sibling.stats = stats(1000, 40, 0); // drags two.io to Blocked
        assert_eq!(pick_mailbox(&[paused, capped, sick, sibling]), None);
    }

    fn arb_mailbox() -> impl Strategy<Value = Mailbox> {
        (
            0u8..6,
            0u8..3,
            0u32..200,
            0u32..60,
            0u32..3000,
            0u32..80,
            0u32..12,
            any::<bool>(),
        )
            .prop_map(
                |(id, dom, age, today, sent, bounces, complaints, paused)| Mailbox {
                    id: format!("m{id}"),
                    domain: format!("d{dom}.io"),
                    age_days: age,
                    sent_today: today,
                    stats: stats(sent, bounces, complaints),
                    paused,
                },
            )
    }

    proptest! {
        #[test]
        fn tiers_are_monotone_in_bad_rates(
            b in 0.0f64..0.1, c in 0.0f64..0.01, db in 0.0f64..0.05, dc in 0.0f64..0.005
        ) {
            prop_assert!(tier_for_rates(b, c) <= tier_for_rates(b + db, c));
            prop_assert!(tier_for_rates(b, c) <= tier_for_rates(b, c + dc));
        }

        #[test]
        fn tiers_are_monotone_in_bad_counts(
            sent in 0u32..5000, b in 0u32..200, c in 0u32..20, more in 0u32..20
        ) {
            let base = assess(&stats(sent, b, c)).tier;
            prop_assert!(base <= assess(&stats(sent, b + more, c)).tier);
            prop_assert!(base <= assess(&stats(sent, b, c + more)).tier);
        }

        #[test]
        fn warmup_cap_never_shrinks_with_age(age in 0u32..400) {
            prop_assert!(warmup_daily_cap(age) <= warmup_daily_cap(age + 1));
            prop_assert!((5..=MAX_DAILY_CAP).contains(&warmup_daily_cap(age)));
        }

        #[test]
        fn rotation_never_picks_a_paused_or_over_cap_mailbox(
            boxes in proptest::collection::vec(arb_mailbox(), 0..8)
        ) {
            if let Some(m) = pick_mailbox(&boxes) {
                prop_assert!(!m.paused);
                prop_assert!(m.sent_today < effective_daily_cap(m.age_days, m.tier()));
                prop_assert!(m.tier().may_send());
                prop_assert!(domain_tier(&boxes, &m.domain).may_send());
            } else {
                prop_assert!(boxes.iter().all(|m| m.paused
                    || m.remaining_today() == 0
                    || !m.tier().may_send()
                    || !domain_tier(&boxes, &m.domain).may_send()));
            }
        }
    }
}
