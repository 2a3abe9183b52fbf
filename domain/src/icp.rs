//! The ideal customer profile: segments of won customers, a profile to store, a weighted
//! lead score and targeting recommendations.
//!
//! # Size bands (chosen: LinkedIn's and most data providers' employee ranges, merged)
//! micro 1–10, small 11–50, mid 51–200, large 201–1,000, enterprise 1,001+.
//!
//! # Lead score (0..=100; weights chosen, they sum to 1)
//!
//! | factor | weight | value in 0..=1 |
//! | --- | --- | --- |
//! | industry fit | 0.35 | the lead's industry's share of won deals ÷ the top industry's share |
//! | size fit | 0.25 | the lead's band's share ÷ the top band's share; a band with no wins next to one with wins gets half of that neighbour's value |
//! | seniority | 0.25 | executive 1.0, VP 0.9, director 0.75, manager 0.5, individual contributor 0.25, unknown 0.2 |
//! | engagement | 0.15 | the reviver's engagement points ÷ 25 |
//!
//! Industry and seniority weigh most because won-deal data shows who buys and who signs;
//! engagement weighs least because opens are noisy (machine opens).
//!
//! # Targeting recommendations (chosen thresholds)
//! - fewer than 20 won deals: the profile is tentative;
//! - a segment (band × industry) with ≥ 20% of wins: focus on it;
//! - a band with < 5% of wins (and ≥ 20 deals): deprioritize it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Weights of the four factors, in the order industry, size, seniority, engagement.
pub const WEIGHTS: [f64; 4] = [0.35, 0.25, 0.25, 0.15];
pub const MIN_SAMPLE: usize = 20;
pub const FOCUS_SHARE: f64 = 0.20;
pub const DEPRIORITIZE_SHARE: f64 = 0.05;

/// Company size by employee count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeBand {
    Micro,
    Small,
    Mid,
    Large,
    Enterprise,
}

impl SizeBand {
    pub const ALL: [SizeBand; 5] = [
        SizeBand::Micro,
        SizeBand::Small,
        SizeBand::Mid,
        SizeBand::Large,
        SizeBand::Enterprise,
    ];

    pub fn of(employees: u32) -> SizeBand {
        match employees {
            0..=10 => SizeBand::Micro,
            11..=50 => SizeBand::Small,
            51..=200 => SizeBand::Mid,
            201..=1000 => SizeBand::Large,
            _ => SizeBand::Enterprise,
        }
    }

    fn neighbours(self) -> impl Iterator<Item = SizeBand> {
        let i = SizeBand::ALL.iter().position(|b| *b == self).unwrap_or(0);
        [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter_map(|j| SizeBand::ALL.get(j).copied())
    }
}

/// A won customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WonCustomer {
    pub company: String,
    pub employees: u32,
    pub industry: String,
    pub deal_value: f64,
}

/// One band × industry segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub band: SizeBand,
    pub industry: String,
    pub customers: usize,
    pub share: f64,
    pub revenue: f64,
}

/// The stored ICP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IcpProfile {
    pub sample_size: usize,
    /// Share of won deals per band.
    pub bands: BTreeMap<SizeBand, f64>,
    /// Share of won deals per normalized (lower-case, trimmed) industry.
    pub industries: BTreeMap<String, f64>,
    /// Largest first (customers, then revenue, then band and industry).
    pub segments: Vec<Segment>,
    pub average_deal_value: f64,
}

fn normalize_industry(industry: &str) -> String {
    let joined = industry
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if joined.is_empty() {
        "unknown".into()
    } else {
        joined
    }
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x.max(0.0) } else { 0.0 }
}

/// Segments won customers and builds the profile.
pub fn build_profile(customers: &[WonCustomer]) -> IcpProfile {
    let n = customers.len();
    if n == 0 {
        return IcpProfile::default();
    }
    let total = n as f64;
    let mut groups: BTreeMap<(SizeBand, String), (usize, f64)> = BTreeMap::new();
    let mut bands: BTreeMap<SizeBand, usize> = BTreeMap::new();
    let mut industries: BTreeMap<String, usize> = BTreeMap::new();
    for c in customers {
        let band = SizeBand::of(c.employees);
        let industry = normalize_industry(&c.industry);
        let group = groups.entry((band, industry.clone())).or_default();
        group.0 += 1;
        group.1 += finite_or_zero(c.deal_value);
        *bands.entry(band).or_default() += 1;
        *industries.entry(industry).or_default() += 1;
    }
    let mut segments: Vec<Segment> = groups
        .into_iter()
        .map(|((band, industry), (count, revenue))| Segment {
            band,
            industry,
            customers: count,
            share: count as f64 / total,
            revenue,
        })
        .collect();
    segments.sort_by(|a, b| {
        b.customers
            .cmp(&a.customers)
            .then(b.revenue.total_cmp(&a.revenue))
            .then(a.band.cmp(&b.band))
            .then(a.industry.cmp(&b.industry))
    });
    let revenue: f64 = segments.iter().map(|s| s.revenue).sum();
    let share = |count: usize| count as f64 / total;
    IcpProfile {
        sample_size: n,
        bands: bands.into_iter().map(|(k, c)| (k, share(c))).collect(),
        industries: industries.into_iter().map(|(k, c)| (k, share(c))).collect(),
        segments,
        average_deal_value: revenue / total,
    }
}

/// Seniority read from a job title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seniority {
    Executive,
    Vp,
    Director,
    Manager,
    IndividualContributor,
    Unknown,
}

impl Seniority {
    /// Keyword match on the title, most senior first.
    pub fn from_title(title: &str) -> Seniority {
        let t = format!(
            " {} ",
            title
                .to_lowercase()
                .replace([',', '-', '/', '&', '(', ')'], " ")
        );
        let has = |words: &[&str]| words.iter().any(|w| t.contains(&format!(" {w} ")));
        if title.trim().is_empty() {
            Seniority::Unknown
        } else if has(&[
            "ceo",
            "cfo",
            "coo",
            "cto",
            "cro",
            "cmo",
            "founder",
            "co founder",
            "owner",
            "president",
            "chief",
            "partner",
        ]) {
            Seniority::Executive
        } else if has(&["vp", "vice", "svp", "evp"]) {
            Seniority::Vp
        } else if has(&["director", "head"]) {
            Seniority::Director
        } else if has(&["manager", "lead", "supervisor"]) {
            Seniority::Manager
        } else {
            Seniority::IndividualContributor
        }
    }

    pub fn value(self) -> f64 {
        match self {
            Seniority::Executive => 1.0,
            Seniority::Vp => 0.9,
            Seniority::Director => 0.75,
            Seniority::Manager => 0.5,
            Seniority::IndividualContributor => 0.25,
            Seniority::Unknown => 0.2,
        }
    }
}

/// A lead as the ICP score sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcpLead {
    pub employees: Option<u32>,
    pub industry: Option<String>,
    pub title: Option<String>,
    /// `reviver` engagement points, 0..=25.
    pub engagement_points: u8,
}

/// The four factor values and the total.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IcpScore {
    pub total: u8,
    pub industry: f64,
    pub size: f64,
    pub seniority: f64,
    pub engagement: f64,
}

fn relative(share: f64, max: f64) -> f64 {
    if max > 0.0 {
        (share / max).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn size_fit(profile: &IcpProfile, band: SizeBand) -> f64 {
    let max = profile.bands.values().copied().fold(0.0, f64::max);
    let own = relative(profile.bands.get(&band).copied().unwrap_or(0.0), max);
    if own > 0.0 {
        return own;
    }
    band.neighbours()
        .map(|b| relative(profile.bands.get(&b).copied().unwrap_or(0.0), max) / 2.0)
        .fold(0.0, f64::max)
}

/// The weighted 4-factor score of a lead against a profile.
pub fn lead_score(profile: &IcpProfile, lead: &IcpLead) -> IcpScore {
    let max_industry = profile.industries.values().copied().fold(0.0, f64::max);
    let industry = lead
        .industry
        .as_deref()
        .map(|i| {
            relative(
                profile
                    .industries
                    .get(&normalize_industry(i))
                    .copied()
                    .unwrap_or(0.0),
                max_industry,
            )
        })
        .unwrap_or(0.0);
    let size = lead
        .employees
        .map(|e| size_fit(profile, SizeBand::of(e)))
        .unwrap_or(0.0);
    let seniority = Seniority::from_title(lead.title.as_deref().unwrap_or("")).value();
    let engagement = f64::from(lead.engagement_points.min(25)) / 25.0;
    let weighted = WEIGHTS[0] * industry
        + WEIGHTS[1] * size
        + WEIGHTS[2] * seniority
        + WEIGHTS[3] * engagement;
    let total = (weighted * 100.0).round().clamp(0.0, 100.0) as u8;
    IcpScore {
        total,
        industry,
        size,
        seniority,
        engagement,
    }
}

/// A targeting recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Targeting {
    TentativeProfile {
        sample_size: usize,
        min: usize,
    },
    FocusSegment {
        band: SizeBand,
        industry: String,
        share: f64,
    },
    DeprioritizeBand {
        band: SizeBand,
        share: f64,
    },
}

/// Recommendations from a profile (see module docs for the thresholds).
pub fn targeting_recommendations(profile: &IcpProfile) -> Vec<Targeting> {
    let mut out = Vec::new();
    if profile.sample_size < MIN_SAMPLE {
        out.push(Targeting::TentativeProfile {
            sample_size: profile.sample_size,
            min: MIN_SAMPLE,
        });
    }
    out.extend(
        profile
            .segments
            .iter()
            .filter(|s| s.share >= FOCUS_SHARE)
            .map(|s| Targeting::FocusSegment {
                band: s.band,
                industry: s.industry.clone(),
                share: s.share,
            }),
    );
    if profile.sample_size >= MIN_SAMPLE {
        for band in SizeBand::ALL {
            let share = profile.bands.get(&band).copied().unwrap_or(0.0);
            if share < DEPRIORITIZE_SHARE {
                out.push(Targeting::DeprioritizeBand { band, share });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn won(employees: u32, industry: &str, value: f64) -> WonCustomer {
        WonCustomer {
            company: format!("c{employees}"),
            employees,
            industry: industry.into(),
            deal_value: value,
        }
    }

    fn profile() -> IcpProfile {
        let mut customers = vec![];
        customers.extend((0..6).map(|_| won(120, "Logistics", 20_000.0)));
        customers.extend((0..3).map(|_| won(30, "logistics ", 8_000.0)));
        customers.push(won(500, "Retail", 50_000.0));
        build_profile(&customers)
    }

    #[test]
    fn weights_sum_to_one() {
        assert!((WEIGHTS.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn size_bands_change_at_their_documented_edges() {
        let cases = [
            (0, SizeBand::Micro),
            (10, SizeBand::Micro),
            (11, SizeBand::Small),
            (50, SizeBand::Small),
            (51, SizeBand::Mid),
            (200, SizeBand::Mid),
            (201, SizeBand::Large),
            (1000, SizeBand::Large),
            (1001, SizeBand::Enterprise),
        ];
        for (n, band) in cases {
            assert_eq!(SizeBand::of(n), band, "{n}");
        }
    }

    #[test]
    fn segments_group_by_band_and_normalized_industry() {
        let p = profile();
        assert_eq!(p.sample_size, 10);
        assert_eq!(
            (
                p.segments[0].band,
                p.segments[0].industry.as_str(),
                p.segments[0].customers
            ),
            (SizeBand::Mid, "logistics", 6)
        );
        assert_eq!(p.segments.len(), 3);
        assert!((p.industries["logistics"] - 0.9).abs() < 1e-9);
        assert!((p.average_deal_value - 19_400.0).abs() < 1e-9);
    }

    #[test]
    fn an_exec_in_the_top_segment_scores_high_and_a_stranger_low() {
        let p = profile();
        let best = IcpLead {
            employees: Some(150),
            industry: Some("LOGISTICS".into()),
            title: Some("VP Sales".into()),
            engagement_points: 25,
        };
        let s = lead_score(&p, &best);
        assert_eq!(
            (s.industry, s.size, s.seniority, s.engagement),
            (1.0, 1.0, 0.9, 1.0)
        );
        assert_eq!(s.total, 98);
        let stranger = IcpLead {
            employees: None,
            industry: Some("Mining".into()),
            title: None,
            engagement_points: 0,
        };
        assert_eq!(lead_score(&p, &stranger).total, 5);
    }

    #[test]
    fn an_empty_band_next_to_a_winning_one_gets_half_credit() {
        let p = profile();
        assert_eq!(size_fit(&p, SizeBand::Micro), 0.25); // neighbour Small = 3/6 → 0.5 / 2
        assert!((size_fit(&p, SizeBand::Enterprise) - 1.0 / 12.0).abs() < 1e-12); // neighbour Large = 1/6, halved
    }

    #[test]
    fn titles_map_to_seniority() {
        let cases = [
            ("Co-Founder & CEO", Seniority::Executive),
            ("SVP, Revenue", Seniority::Vp),
            ("Head of Growth", Seniority::Director),
            ("Sales Manager", Seniority::Manager),
            ("Account Executive", Seniority::IndividualContributor),
            ("", Seniority::Unknown),
        ];
        for (title, s) in cases {
            assert_eq!(Seniority::from_title(title), s, "{title}");
        }
    }

    #[test]
    fn small_samples_are_tentative_and_big_segments_are_focus() {
        let recs = targeting_recommendations(&profile());
        assert_eq!(
            recs[0],
            Targeting::TentativeProfile {
                sample_size: 10,
                min: 20
            }
        );
        assert!(
            matches!(&recs[1], Targeting::FocusSegment { band: SizeBand::Mid, industry, .. } if industry == "logistics")
        );
        assert!(matches!(
            &recs[2],
            Targeting::FocusSegment {
                band: SizeBand::Small,
                ..
            }
        ));
        assert_eq!(
            recs.len(),
            3,
            "no band deprioritized on a tentative profile"
        );
    }

    #[test]
    fn bands_below_five_percent_are_deprioritized_at_twenty_deals() {
        let customers: Vec<WonCustomer> = (0..19)
            .map(|_| won(100, "saas", 1.0))
            .chain([won(5, "saas", 1.0)])
            .collect();
        let recs = targeting_recommendations(&build_profile(&customers));
        let bands: Vec<SizeBand> = recs
            .iter()
            .filter_map(|r| match r {
                Targeting::DeprioritizeBand { band, .. } => Some(*band),
                _ => None,
            })
            .collect();
        // Micro has exactly 1/20 = 5%: not below the line.
        assert_eq!(
            bands,
            [SizeBand::Small, SizeBand::Large, SizeBand::Enterprise]
        );
    }

    #[test]
    fn profiles_round_trip_through_json() {
        let p = profile();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<IcpProfile>(&json).unwrap(), p);
    }

    proptest! {
        #[test]
        fn scores_stay_in_range(
            customers in proptest::collection::vec((any::<u32>(), "[a-c]{0,2}", any::<f64>()), 0..30),
            employees in proptest::option::of(any::<u32>()), industry in proptest::option::of("[a-c]{0,2}"),
            title in proptest::option::of(".{0,20}"), engagement in any::<u8>()
        ) {
            let won: Vec<WonCustomer> = customers.into_iter().map(|(e, i, v)| won(e, &i, v)).collect();
            let p = build_profile(&won);
            let s = lead_score(&p, &IcpLead { employees, industry, title, engagement_points: engagement });
            prop_assert!(s.total <= 100);
            for f in [s.industry, s.size, s.seniority, s.engagement] {
                prop_assert!((0.0..=1.0).contains(&f));
            }
            let share_sum: f64 = p.bands.values().sum();
            prop_assert!(p.sample_size == 0 || (share_sum - 1.0).abs() < 1e-9);
        }
    }
}
