//! Recently seen keys, so a busy client does not cost a database read per request.
//!
//! Entries live for a short, configured time (`ApiConfig::key_cache_ttl`, 10 s by
//! default): a key revoked in another process keeps working here until its entry
//! expires — the price of not reading the key on every request. Only valid keys are
//! cached (an unknown key is read every time, so creating a key takes effect at once).
//! Held by SHA-256 of the key, never the key itself.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::Principal;

/// At most this many keys are remembered; when full, everything is forgotten at once
/// (cheaper than tracking recency, and a full cache means a burst of distinct keys).
const CAPACITY: usize = 10_000;

pub(crate) struct KeyCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Principal, Instant)>>,
}

impl KeyCache {
    /// `ttl` zero turns caching off.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, hash: &str, now: Instant) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (principal, until) = entries.get(hash)?;
        (now < *until).then(|| principal.clone())
    }

    pub(crate) fn put(&self, hash: String, principal: Principal, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(hash, (principal, now + self.ttl));
    }

    /// Forgets a key at once (revoked in this process).
    pub(crate) fn forget_key(&self, key_id: uuid::Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (p, _)| p.key_id != key_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scope;
    use uuid::Uuid;

    fn principal() -> Principal {
        Principal {
            key_id: Uuid::new_v4(),
            tenant_id: Uuid::new_v4(),
            tenant: "acme".into(),
            scopes: vec![Scope::Read],
        }
    }

    #[test]
    fn an_entry_lives_for_the_ttl_only() {
        let cache = KeyCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        cache.put("h".into(), principal(), t0);
        assert!(cache.get("h", t0 + Duration::from_secs(9)).is_some());
        assert!(cache.get("h", t0 + Duration::from_secs(10)).is_none());
        assert!(cache.get("other", t0).is_none());
    }

    #[test]
    fn zero_ttl_caches_nothing_and_forget_drops_a_key() {
        let off = KeyCache::new(Duration::ZERO);
        let t0 = Instant::now();
        off.put("h".into(), principal(), t0);
        assert!(off.get("h", t0).is_none());

        let cache = KeyCache::new(Duration::from_secs(10));
        let p = principal();
        cache.put("h".into(), p.clone(), t0);
        cache.put("g".into(), principal(), t0);
        cache.forget_key(p.key_id);
        assert!(cache.get("h", t0).is_none());
        assert!(cache.get("g", t0).is_some());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = KeyCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..CAPACITY {
            cache.put(format!("k{i}"), principal(), t0);
        }
        cache.put("last".into(), principal(), t0);
        assert!(cache.get("k0", t0).is_none());
        assert!(cache.get("last", t0).is_some());
    }
}
