//! Enrichment decisions: provider waterfall, cache freshness, credit budget, data quality
//! and the risk of an email address. The HTTP calls live in `rex-adapters`.
//!
//! Sources (DOMAIN.md, "Enrichment" and "What the best outreach products do"):
//! - Cache: a record fetched less than 30 days ago is fresh; at exactly 30 days it is
//!   stale. A fetch time in the future is not trusted (stale, chosen).
//! - Costs: Hunter charges nothing when nothing is found; Apollo charges 1 credit per
//!   match, +8 when a mobile number is returned, 0 when nothing matches.
//! - Catch-all (`accept_all`) domains are 10–20% of B2B domains: risky, never valid.
//! - Provenance (source + time per field) is kept for the GDPR Art. 14 notice.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Enrichment is fresh for this many days (DOMAIN.md: 30-day cache).
pub const CACHE_DAYS: i64 = 30;

/// A data provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Hunter,
    Apollo,
    /// Optional at most: Clearbit's free platform closed in 2025.
    Clearbit,
}

/// A field enrichment can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Email,
    Phone,
    Title,
    Company,
    Linkedin,
    Country,
}

/// What one provider can do and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderProfile {
    pub provider: Provider,
    pub fields: Vec<Field>,
    /// Credits charged for a match.
    pub credits_per_match: u32,
    /// Extra credits when a phone number comes back (Apollo: 8).
    pub credits_per_phone: u32,
    /// Whether a miss costs credits too (neither Hunter nor Apollo charge for misses).
    pub charges_on_miss: bool,
    /// Observed share of lookups that find something, `0.0..=1.0`.
    pub hit_rate: f64,
    pub enabled: bool,
}

impl ProviderProfile {
    /// Worst-case credits of one lookup that asks for `wanted`.
    pub fn max_cost(&self, wanted: &[Field]) -> u32 {
        let phone = wanted.contains(&Field::Phone) && self.fields.contains(&Field::Phone);
        self.credits_per_match + if phone { self.credits_per_phone } else { 0 }
    }

    /// Expected credits per successful lookup: a provider that charges misses pays for
    /// `1 / hit_rate` lookups per hit.
    pub fn cost_per_hit(&self, wanted: &[Field]) -> f64 {
        let cost = f64::from(self.max_cost(wanted));
        let hit_rate = if self.hit_rate.is_finite() {
            self.hit_rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match (self.charges_on_miss, hit_rate > 0.0) {
            (false, _) => cost,
            (true, true) => cost / hit_rate,
            (true, false) => f64::INFINITY,
        }
    }
}

/// DOMAIN.md's providers with their documented costs; hit rates are starting guesses
/// (chosen) that the caller replaces with observed ones.
pub fn default_providers() -> Vec<ProviderProfile> {
    vec![
        ProviderProfile {
            provider: Provider::Hunter,
            fields: vec![Field::Email],
            credits_per_match: 1,
            credits_per_phone: 0,
            charges_on_miss: false,
            hit_rate: 0.6,
            enabled: true,
        },
        ProviderProfile {
            provider: Provider::Apollo,
            fields: vec![
                Field::Email,
                Field::Phone,
                Field::Title,
                Field::Company,
                Field::Linkedin,
                Field::Country,
            ],
            credits_per_match: 1,
            credits_per_phone: 8,
            charges_on_miss: false,
            hit_rate: 0.7,
            enabled: true,
        },
        ProviderProfile {
            provider: Provider::Clearbit,
            fields: vec![Field::Company, Field::Country],
            credits_per_match: 1,
            credits_per_phone: 0,
            charges_on_miss: true,
            hit_rate: 0.5,
            enabled: false,
        },
    ]
}

/// The waterfall: enabled providers that supply at least one wanted field, cheapest
/// expected cost per hit first, then more wanted fields covered, then higher hit rate,
/// then provider order (deterministic).
pub fn waterfall_order(providers: &[ProviderProfile], wanted: &[Field]) -> Vec<Provider> {
    let mut usable: Vec<&ProviderProfile> = providers
        .iter()
        .filter(|p| p.enabled && wanted.iter().any(|f| p.fields.contains(f)))
        .collect();
    let covered = |p: &ProviderProfile| wanted.iter().filter(|f| p.fields.contains(f)).count();
    usable.sort_by(|a, b| {
        a.cost_per_hit(wanted)
            .total_cmp(&b.cost_per_hit(wanted))
            .then(covered(b).cmp(&covered(a)))
            .then(b.hit_rate.total_cmp(&a.hit_rate))
            .then(a.provider.cmp(&b.provider))
    });
    usable.into_iter().map(|p| p.provider).collect()
}

/// Whether cached data fetched at `fetched_at` is still fresh at `now`.
pub fn is_fresh(fetched_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let age = now.signed_duration_since(fetched_at);
    age >= Duration::zero() && age < Duration::days(CACHE_DAYS)
}

/// A mission's enrichment budget, in provider credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Budget {
    pub limit: u32,
    pub spent: u32,
}

impl Budget {
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.spent)
    }

    /// Whether a lookup that may cost `cost` credits fits: the worst case must fit, so a
    /// lookup never overdraws the budget.
    pub fn can_afford(&self, cost: u32) -> bool {
        cost <= self.remaining()
    }
}

/// Hunter's verifier statuses (DOMAIN.md), plus `Unverified` for never checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailVerification {
    Valid,
    Invalid,
    AcceptAll,
    Webmail,
    Disposable,
    Unknown,
    #[default]
    Unverified,
}

impl EmailVerification {
    /// Parses Hunter's `status` string; anything unexpected is `Unknown`.
    pub fn from_hunter(status: &str) -> EmailVerification {
        match status.trim().to_ascii_lowercase().as_str() {
            "valid" => EmailVerification::Valid,
            "invalid" => EmailVerification::Invalid,
            "accept_all" => EmailVerification::AcceptAll,
            "webmail" => EmailVerification::Webmail,
            "disposable" => EmailVerification::Disposable,
            _ => EmailVerification::Unknown,
        }
    }
}

/// How safe it is to send to an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailRisk {
    Safe,
    /// Catch-all, unknown, webmail (a personal inbox for a B2B pitch, chosen) or never
    /// verified: may be sent to, counts against the bounce budget, flagged in reports.
    Risky,
    /// Invalid or disposable: never send.
    Undeliverable,
}

pub fn email_risk(status: EmailVerification) -> EmailRisk {
    match status {
        EmailVerification::Valid => EmailRisk::Safe,
        EmailVerification::AcceptAll
        | EmailVerification::Webmail
        | EmailVerification::Unknown
        | EmailVerification::Unverified => EmailRisk::Risky,
        EmailVerification::Invalid | EmailVerification::Disposable => EmailRisk::Undeliverable,
    }
}

/// Where one field's value came from (GDPR Art. 14 needs the source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub field: Field,
    pub source: String,
    pub fetched_at: DateTime<Utc>,
}

/// The distinct sources of a lead's data, sorted: the text of the Art. 14 notice.
pub fn data_sources(provenance: &[Provenance]) -> Vec<String> {
    let mut sources: Vec<String> = provenance.iter().map(|p| p.source.clone()).collect();
    sources.sort();
    sources.dedup();
    sources
}

/// The enriched record as the quality score sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EnrichedRecord {
    pub email_status: Option<EmailVerification>,
    pub has_name: bool,
    pub has_title: bool,
    pub has_company: bool,
    pub has_phone: bool,
    pub has_linkedin: bool,
    pub has_country: bool,
    pub fetched_at: Option<DateTime<Utc>>,
}

/// Data-quality score in `0..=100` (weights chosen; email dominates because it is the
/// channel most steps use): verified email 35 (catch-all/unknown/webmail/unverified 15,
/// invalid/disposable 0), name 10, title 10, company 10, phone 10, LinkedIn 5, country 5
/// (needed by the consent gate), fresh (< 30 days) 15.
pub fn quality_score(record: &EnrichedRecord, now: DateTime<Utc>) -> u8 {
    let email = match record.email_status.map(email_risk) {
        Some(EmailRisk::Safe) => 35,
        Some(EmailRisk::Risky) => 15,
        Some(EmailRisk::Undeliverable) | None => 0,
    };
    let flag = |present: bool, points: u8| if present { points } else { 0 };
    let fresh = record.fetched_at.is_some_and(|at| is_fresh(at, now));
    email
        + flag(record.has_name, 10)
        + flag(record.has_title, 10)
        + flag(record.has_company, 10)
        + flag(record.has_phone, 10)
        + flag(record.has_linkedin, 5)
        + flag(record.has_country, 5)
        + flag(fresh, 15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn cache_is_fresh_until_exactly_thirty_days() {
        let now = t0();
        assert!(is_fresh(now, now));
        assert!(is_fresh(
            now - Duration::days(30) + Duration::seconds(1),
            now
        ));
        assert!(!is_fresh(now - Duration::days(30), now));
        assert!(!is_fresh(now - Duration::days(31), now));
        assert!(
            !is_fresh(now + Duration::hours(1), now),
            "future fetch times are not trusted"
        );
    }

    #[test]
    fn waterfall_asks_the_cheapest_provider_that_has_the_field() {
        let providers = default_providers();
        assert_eq!(
            waterfall_order(&providers, &[Field::Email]),
            vec![Provider::Apollo, Provider::Hunter],
            "same cost: Apollo covers as much and hits more often"
        );
        assert_eq!(
            waterfall_order(&providers, &[Field::Phone]),
            vec![Provider::Apollo]
        );
        assert!(waterfall_order(&providers, &[]).is_empty());
    }

    #[test]
    fn a_phone_makes_apollo_cost_nine_credits() {
        let apollo = &default_providers()[1];
        assert_eq!(apollo.max_cost(&[Field::Email]), 1);
        assert_eq!(apollo.max_cost(&[Field::Email, Field::Phone]), 9);
        let providers = default_providers();
        assert_eq!(
            waterfall_order(&providers, &[Field::Email, Field::Phone]),
            vec![Provider::Hunter, Provider::Apollo]
        );
    }

    #[test]
    fn providers_that_charge_misses_pay_per_hit() {
        let mut p = default_providers().remove(2);
        p.enabled = true;
        assert_eq!(p.cost_per_hit(&[Field::Company]), 2.0);
        p.hit_rate = 0.0;
        assert!(p.cost_per_hit(&[Field::Company]).is_infinite());
        p.hit_rate = f64::NAN;
        assert!(p.cost_per_hit(&[Field::Company]).is_infinite());
    }

    #[test]
    fn budget_allows_a_lookup_that_exactly_fits_and_not_one_credit_more() {
        let budget = Budget {
            limit: 10,
            spent: 1,
        };
        assert!(budget.can_afford(9));
        assert!(!budget.can_afford(10));
        assert_eq!(Budget { limit: 1, spent: 5 }.remaining(), 0);
    }

    #[test]
    fn catch_all_is_risky_and_never_safe() {
        assert_eq!(
            email_risk(EmailVerification::from_hunter("accept_all")),
            EmailRisk::Risky
        );
        assert_eq!(
            email_risk(EmailVerification::from_hunter("valid")),
            EmailRisk::Safe
        );
        assert_eq!(
            email_risk(EmailVerification::from_hunter("disposable")),
            EmailRisk::Undeliverable
        );
        assert_eq!(
            EmailVerification::from_hunter("weird"),
            EmailVerification::Unknown
        );
    }

    #[test]
    fn quality_score_adds_up_to_one_hundred_for_a_complete_fresh_record() {
        let full = EnrichedRecord {
            email_status: Some(EmailVerification::Valid),
            has_name: true,
            has_title: true,
            has_company: true,
            has_phone: true,
            has_linkedin: true,
            has_country: true,
            fetched_at: Some(t0()),
        };
        assert_eq!(quality_score(&full, t0()), 100);
        let stale = EnrichedRecord {
            fetched_at: Some(t0() - Duration::days(30)),
            ..full.clone()
        };
        assert_eq!(quality_score(&stale, t0()), 85);
        let catch_all = EnrichedRecord {
            email_status: Some(EmailVerification::AcceptAll),
            ..full
        };
        assert_eq!(quality_score(&catch_all, t0()), 80);
        assert_eq!(quality_score(&EnrichedRecord::default(), t0()), 0);
    }

    #[test]
    fn sources_are_listed_once_each() {
        let p = |source: &str| Provenance {
            field: Field::Email,
            source: source.into(),
            fetched_at: t0(),
        };
        assert_eq!(
            data_sources(&[p("hunter.io"), p("apollo.io"), p("hunter.io")]),
            ["apollo.io", "hunter.io"]
        );
    }

    proptest! {
        #[test]
        fn quality_score_stays_in_range(
            flags in proptest::collection::vec(any::<bool>(), 6),
            status in 0usize..8,
            age_days in -5i64..100
        ) {
            let statuses = [None, Some(EmailVerification::Valid), Some(EmailVerification::Invalid),
                Some(EmailVerification::AcceptAll), Some(EmailVerification::Webmail),
                Some(EmailVerification::Disposable), Some(EmailVerification::Unknown),
                Some(EmailVerification::Unverified)];
            let record = EnrichedRecord {
                email_status: statuses[status],
                has_name: flags[0], has_title: flags[1], has_company: flags[2],
                has_phone: flags[3], has_linkedin: flags[4], has_country: flags[5],
                fetched_at: Some(t0() - Duration::days(age_days)),
            };
            prop_assert!(quality_score(&record, t0()) <= 100);
        }
    }
}
