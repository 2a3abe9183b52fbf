//! Requests per minute per API key: a token bucket per key, in this process's memory.
//!
//! Each of several API replicas limits on its own, so the effective limit is the
//! configured one times the replicas behind the load balancer; a shared limiter
//! (in the database or RabbitMQ) would cost a round trip per request, which the
//! latency budget of mission reads does not allow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

pub(crate) struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_minute` of 0 lets everything through.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token of `key`'s bucket, or says how long until one is available.
    pub(crate) fn check(&self, key: Uuid, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(60);
        let (key, t0) = (Uuid::now_v7(), Instant::now());
        for _ in 0..60 {
            assert!(limiter.check(key, t0).is_ok());
        }
        let wait = limiter.check(key, t0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(limiter.check(key, t0 + Duration::from_secs(1)).is_ok());
        // another key has a bucket of its own
        assert!(limiter.check(Uuid::now_v7(), t0).is_ok());
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = RateLimiter::new(0);
        let key = Uuid::now_v7();
        for _ in 0..1000 {
            assert!(limiter.check(key, Instant::now()).is_ok());
        }
    }
}
