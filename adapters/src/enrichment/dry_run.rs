//! The stand-in for an enrichment provider without an API key: it records
//! the lookup it would have made and finds nothing. It never invents data. Each
//! call is reported to the usage sink under the live provider's operation name.

use super::{EmailVerifier, EnrichmentProvider, Lookup, PersonQuery, Verification};
use crate::dry_run::{self, Delivery, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::{Credits, SharedUsageSink};
use async_trait::async_trait;
use std::time::Instant;

#[derive(Clone)]
pub struct DryRunEnrichment {
    provider: Provider,
    log: DryRunLog,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for DryRunEnrichment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunEnrichment")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl DryRunEnrichment {
    pub fn new(provider: Provider, log: DryRunLog, usage: SharedUsageSink) -> Self {
        Self {
            provider,
            log,
            usage,
        }
    }
}

/// The live client's operation for a lookup at `provider`.
fn lookup_operation(provider: Provider) -> &'static str {
    match provider {
        Provider::Apollo => operation::PEOPLE_MATCH,
        _ => operation::EMAIL_FINDER,
    }
}

#[async_trait]
impl EnrichmentProvider for DryRunEnrichment {
    fn source(&self) -> Provider {
        self.provider
    }

    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    fn max_cost(&self) -> Credits {
        Credits::ZERO
    }

    async fn lookup(&self, query: &PersonQuery) -> Result<Lookup, ProviderError> {
        let started = Instant::now();
        let rendered = serde_json::to_string(query).unwrap_or_default();
        let entry = self
            .log
            .record(self.provider, "lookup", query.cache_key(), vec![], rendered);
        self.usage.record(dry_run::usage(
            self.provider,
            lookup_operation(self.provider),
            started.elapsed(),
        ));
        Ok(Lookup {
            contact: Default::default(),
            cost: Credits::ZERO,
            delivery: Delivery::DryRun { entry },
        })
    }
}

#[async_trait]
impl EmailVerifier for DryRunEnrichment {
    fn source(&self) -> Provider {
        self.provider
    }

    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    fn cost(&self) -> Credits {
        Credits::ZERO
    }

    /// A dry run cannot know whether an address exists: it says so.
    async fn verify(&self, email: &str) -> Result<Verification, ProviderError> {
        let started = Instant::now();
        let entry = self
            .log
            .record(self.provider, "verify", email, vec![], email.to_owned());
        self.usage.record(dry_run::usage(
            self.provider,
            operation::EMAIL_VERIFIER,
            started.elapsed(),
        ));
        Err(ProviderError::DryRun {
            provider: self.provider,
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::UsageLog;
    use std::sync::Arc;

    #[tokio::test]
    async fn every_dry_run_call_is_reported_under_the_live_operation() {
        let usage = UsageLog::new();
        let sink = || -> SharedUsageSink { Arc::new(usage.clone()) };
        let hunter = DryRunEnrichment::new(Provider::Hunter, DryRunLog::new(), sink());
        let apollo = DryRunEnrichment::new(Provider::Apollo, DryRunLog::new(), sink());
        let query = PersonQuery::default();
        assert!(hunter.lookup(&query).await.unwrap().contact.is_empty());
        assert!(apollo.lookup(&query).await.unwrap().contact.is_empty());
        let err = hunter.verify("lee@acme.example").await.unwrap_err();
        assert_eq!(err.kind(), "dry_run");
        let calls: Vec<_> = usage
            .records()
            .iter()
            .map(|r| (r.provider, r.operation, r.dry_run, r.cost.credits))
            .collect();
        assert_eq!(
            calls,
            [
                (Provider::Hunter, "email_finder", true, Credits::ZERO),
                (Provider::Apollo, "people_match", true, Credits::ZERO),
                (Provider::Hunter, "email_verifier", true, Credits::ZERO),
            ]
        );
    }
}
