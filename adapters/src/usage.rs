//! Cost and usage accounting as plain data. Every provider call produces one
//! [`Usage`] record, handed to a [`UsageSink`]; the metrics backend (another
//! crate) implements the sink and turns records into counters. This crate
//! depends on no metrics library.

use crate::provider::Provider;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Enrichment credits, kept in thousandths so that Hunter's half-credit
/// verifications and Apollo's whole credits add up exactly.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Credits(u32);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub const fn whole(credits: u32) -> Self {
        Credits(credits.saturating_mul(1000))
    }

    pub const fn from_millis(millis: u32) -> Self {
        Credits(millis)
    }

    pub const fn millis(self) -> u32 {
        self.0
    }

    pub fn saturating_sub(self, other: Credits) -> Credits {
        Credits(self.0.saturating_sub(other.0))
    }
}

impl Add for Credits {
    type Output = Credits;
    fn add(self, rhs: Credits) -> Credits {
        Credits(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Credits {
    fn add_assign(&mut self, rhs: Credits) {
        *self = *self + rhs;
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1000;
        let frac = self.0 % 1000;
        if frac == 0 {
            write!(f, "{whole}")
        } else {
            let frac = format!("{frac:03}");
            write!(f, "{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// What one call cost, in each provider's own unit. Fields that do not apply
/// stay zero, so summing records is always meaningful.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Cost {
    pub emails: u32,
    pub sms_segments: u32,
    pub credits: Credits,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl AddAssign for Cost {
    fn add_assign(&mut self, rhs: Cost) {
        self.emails += rhs.emails;
        self.sms_segments += rhs.sms_segments;
        self.credits += rhs.credits;
        self.prompt_tokens += rhs.prompt_tokens;
        self.completion_tokens += rhs.completion_tokens;
    }
}

/// One provider call (all its HTTP attempts together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Usage {
    pub provider: Provider,
    pub operation: &'static str,
    /// HTTP attempts made, 0 for dry-run and cache hits.
    pub attempts: u32,
    /// Last HTTP status seen, if any answer came back.
    pub status: Option<u16>,
    /// `None` on success, else [`crate::ProviderError::kind`].
    pub error: Option<&'static str>,
    pub latency: Duration,
    pub cost: Cost,
    pub dry_run: bool,
}

/// Where usage records go. Implement it to feed metrics.
pub trait UsageSink: Send + Sync {
    fn record(&self, usage: Usage);
}

/// Drops every record.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUsage;

impl UsageSink for NoUsage {
    fn record(&self, _usage: Usage) {}
}

/// Keeps records in memory: for tests, and for the CLI's cost summary.
#[derive(Clone, Debug, Default)]
pub struct UsageLog {
    records: Arc<Mutex<Vec<Usage>>>,
}

impl UsageLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn records(&self) -> Vec<Usage> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Sum of the costs of every record of `provider`.
    pub fn total(&self, provider: Provider) -> Cost {
        let mut total = Cost::default();
        for record in self.records().iter().filter(|r| r.provider == provider) {
            total += record.cost;
        }
        total
    }
}

impl UsageSink for UsageLog {
    fn record(&self, usage: Usage) {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(usage);
    }
}

/// The sink type shared by every client.
pub type SharedUsageSink = Arc<dyn UsageSink>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_add_exactly_and_print_as_decimals() {
        let total = Credits::whole(1) + Credits::from_millis(500) + Credits::whole(8);
        assert_eq!(total, Credits::from_millis(9500));
        assert_eq!(total.to_string(), "9.5");
        assert_eq!(Credits::whole(3).to_string(), "3");
        assert_eq!(Credits::from_millis(250).to_string(), "0.25");
    }
}
