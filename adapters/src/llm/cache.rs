//! The LLM response cache. Keys are SHA-256 of the redacted request and
//! values the redacted answer, so the cache never holds personal data and
//! one answer serves every lead whose prompt differs only in redacted values.

use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

#[async_trait]
pub trait ResponseCache: Send + Sync {
    async fn get(&self, key: &str) -> Option<String>;
    async fn put(&self, key: &str, answer: &str);
}

/// Bounded in-process cache; the oldest entry goes first.
#[derive(Debug)]
pub struct MemoryResponseCache {
    capacity: usize,
    inner: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl MemoryResponseCache {
    /// Default capacity: 1,000 answers.
    pub fn new() -> Self {
        Self::with_capacity(1000)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryResponseCache {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl ResponseCache for MemoryResponseCache {
    async fn get(&self, key: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(key)
            .cloned()
    }

    async fn put(&self, key: &str, answer: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(key.to_owned(), answer.to_owned()).is_none() {
            order.push_back(key.to_owned());
        }
        while map.len() > self.capacity {
            match order.pop_front() {
                Some(oldest) => {
                    map.remove(&oldest);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_answer_is_evicted_first() {
        let cache = MemoryResponseCache::with_capacity(2);
        cache.put("a", "1").await;
        cache.put("b", "2").await;
        cache.put("c", "3").await;
        assert_eq!(cache.get("a").await, None);
        assert_eq!(cache.get("c").await.as_deref(), Some("3"));
        assert_eq!(cache.len(), 2);
    }
}
