//! Dry-run mode. A provider without credentials is replaced by a dry-run
//! implementation of the same trait: it renders exactly what would have been
//! sent, appends it to a shared [`DryRunLog`] (which the CLI and the API can
//! show), and returns receipts marked [`Delivery::DryRun`]. It never claims a
//! delivery that did not happen.
//!
//! Every stand-in also hands one [`Usage`] per call to the same [`UsageSink`] the
//! live client would use ([`usage`]), under the live client's operation name, so the
//! provider panels show what a dry run did. Such a record is marked `dry_run`, made
//! no HTTP attempt and costs nothing: nothing was billed, and summing the records of
//! a run stays the run's real spend. (What the live call would have cost is not
//! always knowable: enrichment credits are charged only when something is found, and
//! tokens are counted by the model.)
//!
//! [`UsageSink`]: crate::usage::UsageSink

use crate::provider::Provider;
use crate::usage::{Cost, Usage};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a side effect was carried out. Every receipt carries one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Delivery {
    /// Handed to the provider, which accepted it.
    Sent,
    /// Not sent: recorded as entry `entry` of the dry-run log.
    DryRun { entry: u64 },
}

impl Delivery {
    pub fn is_dry_run(&self) -> bool {
        matches!(self, Delivery::DryRun { .. })
    }
}

/// Whether a provider is live or in dry-run, for startup logs and the CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Live,
    DryRun,
}

/// The usage record of one call that a stand-in answered in place of `provider`
/// after `latency`: marked `dry_run`, no HTTP attempt, no status, no error (a dry run
/// is the stand-in working as intended, even when it answers
/// [`crate::ProviderError::DryRun`]) and zero cost.
pub fn usage(provider: Provider, operation: &'static str, latency: Duration) -> Usage {
    Usage {
        provider,
        operation,
        attempts: 0,
        status: None,
        error: None,
        latency,
        cost: Cost::default(),
        dry_run: true,
    }
}

/// One thing that would have been sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DryRunEntry {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub provider: Provider,
    pub operation: &'static str,
    /// Who it was for: an address, a phone number, a lookup key.
    pub recipient: String,
    /// Headers the real request would have carried (never credentials).
    pub headers: Vec<(String, String)>,
    /// The rendered message or request body.
    pub rendered: String,
}

/// Bounded so that a long-running embedded process cannot grow without limit:
/// the oldest entries go first.
const DEFAULT_CAPACITY: usize = 10_000;

/// A cheap, cloneable handle on the in-memory dry-run log.
#[derive(Clone, Debug)]
pub struct DryRunLog {
    inner: Arc<Mutex<LogInner>>,
}

#[derive(Debug)]
struct LogInner {
    next_id: u64,
    capacity: usize,
    entries: VecDeque<DryRunEntry>,
}

impl Default for DryRunLog {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl DryRunLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LogInner {
                next_id: 1,
                capacity: capacity.max(1),
                entries: VecDeque::new(),
            })),
        }
    }

    /// Appends an entry and returns its id.
    pub fn record(
        &self,
        provider: Provider,
        operation: &'static str,
        recipient: impl Into<String>,
        headers: Vec<(String, String)>,
        rendered: impl Into<String>,
    ) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let id = inner.next_id;
        inner.next_id += 1;
        if inner.entries.len() == inner.capacity {
            inner.entries.pop_front();
        }
        inner.entries.push_back(DryRunEntry {
            id,
            at: Utc::now(),
            provider,
            operation,
            recipient: recipient.into(),
            headers,
            rendered: rendered.into(),
        });
        id
    }

    /// Every entry still held, oldest first.
    pub fn entries(&self) -> Vec<DryRunEntry> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.iter().cloned().collect()
    }

    /// The entry `id`, while the log still holds it (without copying the others).
    pub fn get(&self, id: u64) -> Option<DryRunEntry> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.entries.iter().rev().find(|e| e.id == id).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_usage_is_marked_free_and_without_attempts() {
        let record = usage(Provider::SendGrid, "send_email", Duration::from_micros(5));
        assert!(record.dry_run);
        assert_eq!(record.attempts, 0);
        assert_eq!(record.cost, Cost::default());
        assert_eq!((record.status, record.error), (None, None));
    }

    #[test]
    fn the_log_keeps_the_newest_entries_up_to_its_capacity() {
        let log = DryRunLog::with_capacity(2);
        let first = log.record(Provider::Twilio, "send_sms", "+1", vec![], "a");
        log.record(Provider::Twilio, "send_sms", "+2", vec![], "b");
        log.record(Provider::Twilio, "send_sms", "+3", vec![], "c");
        let entries = log.entries();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.id != first));
        assert_eq!(entries[1].rendered, "c");
        assert_eq!(log.get(first), None);
        assert_eq!(log.get(entries[1].id).map(|e| e.rendered), Some("c".into()));
    }
}
