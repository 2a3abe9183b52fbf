//! Meeting booking, independent of the provider: the [`Scheduler`] trait the
//! outreach agent calls to put a booking link in a message, and its dry-run.

use crate::dry_run::{self, Delivery, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::SharedUsageSink;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A single-use booking link carrying the lead's (or mission's) id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookingLink {
    /// The link to put in the message (with `utm_content`).
    pub url: String,
    /// The id in `utm_content`; comes back in the booking webhook.
    pub tracking: String,
    pub delivery: Delivery,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableTime {
    pub start_time: DateTime<Utc>,
    pub invitees_remaining: u32,
    pub scheduling_url: Option<String>,
}

#[async_trait]
pub trait Scheduler: Send + Sync {
    fn mode(&self) -> Mode;
    /// Creates a link good for one booking; `tracking` (a lead or mission id,
    /// never personal data) rides in `utm_content`.
    async fn create_booking_link(&self, tracking: &str) -> Result<BookingLink, ProviderError>;
    /// Open slots between `start` and `end` (at most 31 days apart).
    async fn available_times(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<AvailableTime>, ProviderError>;
}

/// Checks a tracking id: it goes into a URL and must join back to a lead.
pub fn validate_tracking(tracking: &str) -> Result<(), ProviderError> {
    let ok = !tracking.is_empty()
        && tracking.len() <= 128
        && tracking
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::invalid_input(
            "tracking",
            "1 to 128 characters of [A-Za-z0-9-_.:]",
        ))
    }
}

/// Stands in for a provider without credentials: fake links, no slots, each call
/// recorded in the log and reported to `usage` under the live operation's name.
#[derive(Clone)]
pub struct DryRunScheduler {
    provider: Provider,
    log: DryRunLog,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for DryRunScheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunScheduler")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl DryRunScheduler {
    pub fn new(provider: Provider, log: DryRunLog, usage: SharedUsageSink) -> Self {
        Self {
            provider,
            log,
            usage,
        }
    }
}

#[async_trait]
impl Scheduler for DryRunScheduler {
    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    async fn create_booking_link(&self, tracking: &str) -> Result<BookingLink, ProviderError> {
        let started = Instant::now();
        validate_tracking(tracking)?;
        // An obviously fake scheme: it can never be mistaken for a real link.
        let url = format!("dry-run://{}/booking?utm_content={tracking}", self.provider);
        let entry = self.log.record(
            self.provider,
            "create_booking_link",
            tracking,
            vec![],
            url.clone(),
        );
        self.usage.record(dry_run::usage(
            self.provider,
            operation::CREATE_SCHEDULING_LINK,
            started.elapsed(),
        ));
        Ok(BookingLink {
            url,
            tracking: tracking.to_owned(),
            delivery: Delivery::DryRun { entry },
        })
    }

    async fn available_times(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<AvailableTime>, ProviderError> {
        let started = Instant::now();
        self.log.record(
            self.provider,
            "available_times",
            "",
            vec![],
            format!(
                "{} .. {} (dry run: no slots)",
                start.to_rfc3339(),
                end.to_rfc3339()
            ),
        );
        self.usage.record(dry_run::usage(
            self.provider,
            operation::LIST_AVAILABLE_TIMES,
            started.elapsed(),
        ));
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dry_run_links_are_labelled_and_never_real() {
        let log = DryRunLog::new();
        let usage = crate::UsageLog::new();
        let scheduler = DryRunScheduler::new(
            Provider::Calendly,
            log.clone(),
            std::sync::Arc::new(usage.clone()),
        );
        let link = scheduler.create_booking_link("lead-42").await.unwrap();
        assert!(link.delivery.is_dry_run());
        assert!(link.url.starts_with("dry-run://"));
        assert_eq!(log.len(), 1);
        assert!(scheduler.create_booking_link("a b").await.is_err());
        let now = Utc::now();
        let slots = scheduler.available_times(now, now).await.unwrap();
        assert!(slots.is_empty());
        let calls: Vec<_> = usage
            .records()
            .iter()
            .map(|r| (r.operation, r.dry_run))
            .collect();
        assert_eq!(
            calls,
            [
                ("create_scheduling_link", true),
                ("list_available_times", true)
            ]
        );
    }
}
