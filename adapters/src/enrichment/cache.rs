//! The enrichment cache behind the waterfall. The trait lets the scraper
//! agent keep it in the database; [`MemoryCache`] serves tests and the
//! embedded mode.

use super::Contact;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedContact {
    pub contact: Contact,
    pub cached_at: DateTime<Utc>,
}

#[async_trait]
pub trait EnrichmentCache: Send + Sync {
    /// The entry for `key`, however old; the waterfall judges freshness.
    async fn get(&self, key: &str) -> Option<CachedContact>;
    async fn put(&self, key: &str, contact: &Contact, at: DateTime<Utc>);
}

/// An in-process cache; entries live until replaced.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, CachedContact>>,
}

impl MemoryCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl EnrichmentCache for MemoryCache {
    async fn get(&self, key: &str) -> Option<CachedContact> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    async fn put(&self, key: &str, contact: &Contact, at: DateTime<Utc>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.to_owned(),
                CachedContact {
                    contact: contact.clone(),
                    cached_at: at,
                },
            );
    }
}
