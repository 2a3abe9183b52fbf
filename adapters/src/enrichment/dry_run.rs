//! The stand-in for an enrichment provider without an API key: it records
//! the lookup it would have made and finds nothing. It never invents data.

use super::{EmailVerifier, EnrichmentProvider, Lookup, PersonQuery, Verification};
use crate::dry_run::{Delivery, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::provider::Provider;
use crate::usage::Credits;
use async_trait::async_trait;

#[derive(Clone, Debug)]
pub struct DryRunEnrichment {
    provider: Provider,
    log: DryRunLog,
}

impl DryRunEnrichment {
    pub fn new(provider: Provider, log: DryRunLog) -> Self {
        Self { provider, log }
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
        let rendered = serde_json::to_string(query).unwrap_or_default();
        let entry = self
            .log
            .record(self.provider, "lookup", query.cache_key(), vec![], rendered);
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
        let entry = self
            .log
            .record(self.provider, "verify", email, vec![], email.to_owned());
        Err(ProviderError::DryRun {
            provider: self.provider,
            entry,
        })
    }
}
