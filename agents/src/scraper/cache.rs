//! The 30-day enrichment cache in the domain store, for one lead's waterfall: the
//! fresh entry is read before any provider is called (a store failure fails the step
//! retryably rather than paying for the lookup again), and a provider's answer is
//! written back under the same key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rex_adapters::enrichment::{CachedContact, Contact, EnrichmentCache};
use rex_domain_store::{get_fresh_enrichment, put_enrichment};
use rex_store::Store;
use rex_workers::StepError;
use uuid::Uuid;

use crate::store_error;

pub(super) struct StoreCache {
    store: Store,
    tenant_id: Uuid,
    fresh: Option<CachedContact>,
}

impl StoreCache {
    /// Reads the entry for `key` if it is younger than 30 days at `now`.
    pub(super) async fn load(
        store: &Store,
        tenant_id: Uuid,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, StepError> {
        let row = get_fresh_enrichment(store.conn(), tenant_id, key, now)
            .await
            .map_err(|e| store_error("enrichment cache", &e))?;
        // an entry written by another version that no longer parses is a miss
        let fresh = row.and_then(|m| {
            Some(CachedContact {
                contact: serde_json::from_value(m.payload).ok()?,
                cached_at: m.fetched_at,
            })
        });
        Ok(Self {
            store: store.clone(),
            tenant_id,
            fresh,
        })
    }
}

/// The provider that answered first, for the row's `provider` column.
fn provider(contact: &Contact) -> String {
    let sources = [
        contact.email.as_ref().map(|s| s.source),
        contact.phone.as_ref().map(|s| s.source),
        contact.title.as_ref().map(|s| s.source),
        contact.linkedin_url.as_ref().map(|s| s.source),
    ];
    sources
        .into_iter()
        .flatten()
        .next()
        .map_or_else(|| "waterfall".to_owned(), |s| s.to_string())
}

#[async_trait]
impl EnrichmentCache for StoreCache {
    async fn get(&self, key: &str) -> Option<CachedContact> {
        let _ = key; // loaded for this key
        self.fresh.clone()
    }

    async fn put(&self, key: &str, contact: &Contact, at: DateTime<Utc>) {
        let payload = match serde_json::to_value(contact) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "enrichment cache: contact not serializable");
                return;
            }
        };
        // the lookup is paid for and in the output; a failed write costs only a
        // later re-lookup, so it does not fail the step
        if let Err(e) = put_enrichment(
            self.store.conn(),
            self.tenant_id,
            key,
            &provider(contact),
            payload,
            at,
        )
        .await
        {
            tracing::warn!(error = %e, "enrichment cache: entry not stored");
        }
    }
}
