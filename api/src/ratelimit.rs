//! Requests per minute per API key: one token bucket per key, shared by every API
//! replica through the database, checked from memory.
//!
//! A request costs no round trip: each replica keeps a copy of every active key's
//! bucket and takes tokens from it. Every `sync` interval (250 ms by default) a
//! replica adds the tokens it took to the key's row of `api_rate_buckets` (migration
//! 000040) in one statement for all its keys, and replaces its copy with the bucket as
//! all replicas left it. So a key gets its limit across the deployment, not per
//! replica; between two syncs replicas may together let through a little more than
//! the bucket held, and that debt (the row goes below zero) delays the key's next
//! requests by as much. If the database cannot be reached, each replica keeps
//! limiting on its own and sends what it owes on the next sync that succeeds.
//!
//! The arithmetic ([`Rate`]) is plain and tested on its own; the statement repeats it
//! in SQL so concurrent replicas add up in the row under its lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rex_store::Store;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// Keys sent per statement by a sync (each takes three parameters).
const SYNC_BATCH: usize = 500;

/// Seconds since the Unix epoch: the buckets' clock, the same on every replica (as
/// far as their clocks agree; a bucket's time never goes backwards).
pub(crate) fn wall_clock() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A bucket's content at an instant (seconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Bucket {
    pub tokens: f64,
    pub at: f64,
}

/// The limit: `capacity` tokens, refilled continuously over a minute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Rate {
    capacity: f64,
    per_second: f64,
}

impl Rate {
    /// `None` for 0 (no limit).
    pub(crate) fn per_minute(n: u32) -> Option<Rate> {
        (n > 0).then(|| Rate {
            capacity: f64::from(n),
            per_second: f64::from(n) / 60.0,
        })
    }

    pub(crate) fn full(&self, at: f64) -> Bucket {
        Bucket {
            tokens: self.capacity,
            at,
        }
    }

    /// Seconds an empty bucket takes to fill.
    fn fill_time(&self) -> f64 {
        self.capacity / self.per_second
    }

    /// `bucket` at `now`: refilled for the time since, never above capacity; a `now`
    /// before the bucket's time changes nothing.
    pub(crate) fn refill(&self, bucket: Bucket, now: f64) -> Bucket {
        let elapsed = (now - bucket.at).max(0.0);
        Bucket {
            tokens: (bucket.tokens + elapsed * self.per_second).min(self.capacity),
            at: bucket.at.max(now),
        }
    }

    /// Takes one token at `now`, or says how long until one is there.
    pub(crate) fn take(&self, bucket: &mut Bucket, now: f64) -> Result<(), Duration> {
        *bucket = self.refill(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// This replica's copy of one key's bucket.
struct KeyState {
    bucket: Bucket,
    /// Tokens taken here and not yet sent to the database.
    unsynced: u32,
    /// Tokens taken here that the sync in progress is sending.
    sending: u32,
    last_used: f64,
}

pub(crate) struct RateLimiter {
    rate: Option<Rate>,
    keys: Mutex<HashMap<Uuid, KeyState>>,
}

impl RateLimiter {
    /// `per_minute` of 0 lets everything through.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            rate: Rate::per_minute(per_minute),
            keys: Mutex::default(),
        }
    }

    fn keys(&self) -> MutexGuard<'_, HashMap<Uuid, KeyState>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one token of `key`'s bucket at `now` (see [`wall_clock`]), or says how
    /// long until one is available.
    pub(crate) fn check(&self, key: Uuid, now: f64) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let mut keys = self.keys();
        let state = keys.entry(key).or_insert_with(|| KeyState {
            bucket: rate.full(now),
            unsynced: 0,
            sending: 0,
            last_used: now,
        });
        state.last_used = state.last_used.max(now);
        rate.take(&mut state.bucket, now)?;
        state.unsynced += 1;
        Ok(())
    }

    /// Whether this replica holds a copy of `key`'s bucket. A key it has not seen
    /// (or forgot, idle) is [`RateLimiter::load`]ed first: starting from a full bucket
    /// would let every replica give the key a whole burst of its own.
    pub(crate) fn knows(&self, key: Uuid) -> bool {
        self.rate.is_none() || self.keys().contains_key(&key)
    }

    /// Reads `key`'s shared bucket (one round trip, once per key and replica while the
    /// key is in use) and keeps it as this replica's copy; no row is a full bucket.
    pub(crate) async fn load(&self, store: &Store, key: Uuid) -> Result<(), DbErr> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let sql = match store.backend() {
            DbBackend::Sqlite => {
                "SELECT tokens, refilled_at FROM api_rate_buckets WHERE key_id = ?"
            }
            _ => "SELECT tokens, refilled_at FROM api_rate_buckets WHERE key_id = $1",
        };
        let row = store
            .conn()
            .query_one_raw(Statement::from_sql_and_values(
                store.backend(),
                sql,
                [key.into()],
            ))
            .await?;
        let now = wall_clock();
        let bucket = match row {
            Some(row) => rate.refill(
                Bucket {
                    tokens: row.try_get("", "tokens")?,
                    at: row.try_get("", "refilled_at")?,
                },
                now,
            ),
            None => rate.full(now),
        };
        self.keys().entry(key).or_insert(KeyState {
            bucket,
            unsynced: 0,
            sending: 0,
            last_used: now,
        });
        Ok(())
    }

    /// What a sync sends: per key, the tokens taken since the last one (0 for a key
    /// used within a fill time, whose bucket others may be emptying). Keys idle longer
    /// are forgotten: their bucket is full again wherever it was taken.
    fn take_pending(&self, now: f64) -> Vec<(Uuid, u32)> {
        let Some(rate) = self.rate else {
            return Vec::new();
        };
        let mut keys = self.keys();
        keys.retain(|_, s| s.unsynced > 0 || now - s.last_used <= rate.fill_time());
        keys.iter_mut()
            .map(|(key, s)| {
                s.sending += s.unsynced;
                s.unsynced = 0;
                (*key, s.sending)
            })
            .collect()
    }

    /// The buckets as the database holds them after adding this replica's tokens: each
    /// becomes this replica's copy, less what was taken here while the sync was out.
    fn apply_synced(&self, synced: &[(Uuid, Bucket)], now: f64) {
        let Some(rate) = self.rate else {
            return;
        };
        let mut keys = self.keys();
        for (key, bucket) in synced {
            if let Some(s) = keys.get_mut(key) {
                let mut copy = rate.refill(*bucket, now);
                copy.tokens -= f64::from(s.unsynced);
                s.bucket = copy;
                s.sending = 0;
            }
        }
    }

    /// A sync failed: what it was sending is sent by the next one.
    fn sync_failed(&self) {
        for s in self.keys().values_mut() {
            s.unsynced += s.sending;
            s.sending = 0;
        }
    }

    /// One sync with `store` (see the module doc). The copies change only when the
    /// statement succeeded.
    pub(crate) async fn sync(&self, store: &Store) -> Result<usize, DbErr> {
        let Some(rate) = self.rate else {
            return Ok(0);
        };
        let now = wall_clock();
        let pending = self.take_pending(now);
        let mut synced = Vec::with_capacity(pending.len());
        for batch in pending.chunks(SYNC_BATCH) {
            let statement = sync_statement(store.backend(), rate, batch, now);
            match store.conn().query_all_raw(statement).await {
                Ok(rows) => {
                    for row in rows {
                        let key: Uuid = row.try_get("", "key_id")?;
                        let tokens: f64 = row.try_get("", "tokens")?;
                        let at: f64 = row.try_get("", "refilled_at")?;
                        synced.push((key, Bucket { tokens, at }));
                    }
                }
                Err(e) => {
                    // the batches that did succeed are applied; the rest is owed
                    self.apply_synced(&synced, wall_clock());
                    self.sync_failed();
                    return Err(e);
                }
            }
        }
        self.apply_synced(&synced, wall_clock());
        Ok(synced.len())
    }

    /// Deletes the rows of buckets that have refilled completely (the same as none).
    pub(crate) async fn forget_full(&self, store: &Store) -> Result<u64, DbErr> {
        let Some(rate) = self.rate else {
            return Ok(0);
        };
        let before = wall_clock() - 2.0 * rate.fill_time();
        let sql = match store.backend() {
            DbBackend::Sqlite => "DELETE FROM api_rate_buckets WHERE refilled_at < ?",
            _ => "DELETE FROM api_rate_buckets WHERE refilled_at < $1",
        };
        let done = store
            .conn()
            .execute_raw(Statement::from_sql_and_values(
                store.backend(),
                sql,
                [before.into()],
            ))
            .await?;
        Ok(done.rows_affected())
    }

    /// Syncs every `every` until `stop`, and deletes full buckets once a minute.
    /// Nothing to do without a limit.
    pub(crate) fn spawn_sync(
        self: Arc<Self>,
        store: Store,
        every: Duration,
        stop: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.rate?;
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_purge = wall_clock();
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let pass = async {
                    let result = self.sync(&store).await;
                    if result.is_ok() && wall_clock() - last_purge >= 60.0 {
                        last_purge = wall_clock();
                        if let Err(e) = self.forget_full(&store).await {
                            tracing::debug!(error = %e, "deleting full rate-limit buckets failed");
                        }
                    }
                    result
                };
                match pass
                    .instrument(tracing::debug_span!("rate_limit.sync"))
                    .await
                {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("rate-limit sync works again: limits are shared");
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "rate-limit sync failed: this replica limits on its own until it works");
                    }
                    Err(_) => {}
                }
            }
            // what this replica let through still counts for the others
            let _ = self.sync(&store).await;
        }))
    }
}

/// Adds `batch` (key, tokens taken) to the keys' rows at `now` and answers the rows:
/// the stored bucket refilled to `now`, less the tokens; a new row starts full.
fn sync_statement(backend: DbBackend, rate: Rate, batch: &[(Uuid, u32)], now: f64) -> Statement {
    let p = |i: usize| match backend {
        DbBackend::Sqlite => format!("?{i}"),
        _ => format!("${i}"),
    };
    let (least, greatest) = match backend {
        DbBackend::Sqlite => ("MIN", "MAX"),
        _ => ("LEAST", "GREATEST"),
    };
    let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 3 + 2);
    let mut rows = Vec::with_capacity(batch.len());
    for (key, taken) in batch {
        let i = values.len();
        rows.push(format!("({}, {}, {})", p(i + 1), p(i + 2), p(i + 3)));
        values.push((*key).into());
        // a new row: a full bucket less what was taken
        values.push((rate.capacity - f64::from(*taken)).into());
        values.push(now.into());
    }
    let (capacity, per_second) = (p(values.len() + 1), p(values.len() + 2));
    values.push(rate.capacity.into());
    values.push(rate.per_second.into());
    let sql = format!(
        "INSERT INTO api_rate_buckets AS b (key_id, tokens, refilled_at) VALUES {rows} \
         ON CONFLICT (key_id) DO UPDATE SET \
         tokens = {least}({capacity}, b.tokens + {greatest}(excluded.refilled_at - b.refilled_at, 0) * {per_second}) \
                  - ({capacity} - excluded.tokens), \
         refilled_at = {greatest}(b.refilled_at, excluded.refilled_at) \
         RETURNING key_id, tokens, refilled_at",
        rows = rows.join(", "),
    );
    Statement::from_sql_and_values(backend, sql, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: f64 = 1_800_000_000.0;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(60);
        let key = Uuid::now_v7();
        for _ in 0..60 {
            assert!(limiter.check(key, T0).is_ok());
        }
        let wait = limiter.check(key, T0).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(limiter.check(key, T0 + 1.0).is_ok());
        // another key has a bucket of its own
        assert!(limiter.check(Uuid::now_v7(), T0).is_ok());
    }

    #[test]
    fn zero_disables_the_limit() {
        let limiter = RateLimiter::new(0);
        let key = Uuid::now_v7();
        for _ in 0..1000 {
            assert!(limiter.check(key, wall_clock()).is_ok());
        }
        assert!(limiter.take_pending(wall_clock()).is_empty());
    }

    #[test]
    fn a_sync_sends_what_was_taken_and_takes_back_what_others_took() {
        let limiter = RateLimiter::new(10);
        let key = Uuid::now_v7();
        for _ in 0..4 {
            limiter.check(key, T0).unwrap();
        }
        assert_eq!(limiter.take_pending(T0), [(key, 4)]);
        // taken while the sync is out: owed to the next one
        limiter.check(key, T0).unwrap();
        // the row says another replica took 5 as well: 10 - 4 - 5 = 1 left
        limiter.apply_synced(
            &[(
                key,
                Bucket {
                    tokens: 1.0,
                    at: T0,
                },
            )],
            T0,
        );
        // and the one taken during the sync is subtracted from that
        assert!(limiter.check(key, T0).is_err());
        assert_eq!(limiter.take_pending(T0), [(key, 1)]);
    }

    #[test]
    fn a_failed_sync_is_owed_to_the_next() {
        let limiter = RateLimiter::new(10);
        let key = Uuid::now_v7();
        limiter.check(key, T0).unwrap();
        limiter.check(key, T0).unwrap();
        assert_eq!(limiter.take_pending(T0), [(key, 2)]);
        limiter.check(key, T0).unwrap();
        limiter.sync_failed();
        assert_eq!(limiter.take_pending(T0), [(key, 3)]);
    }

    #[test]
    fn idle_keys_are_forgotten_once_their_bucket_is_full() {
        let limiter = RateLimiter::new(60);
        let key = Uuid::now_v7();
        limiter.check(key, T0).unwrap();
        assert_eq!(limiter.take_pending(T0 + 1.0), [(key, 1)]);
        limiter.apply_synced(
            &[(
                key,
                Bucket {
                    tokens: 59.0,
                    at: T0,
                },
            )],
            T0 + 1.0,
        );
        // used within a fill time (60 s): still refreshed, with nothing to add
        assert_eq!(limiter.take_pending(T0 + 30.0), [(key, 0)]);
        limiter.apply_synced(
            &[(
                key,
                Bucket {
                    tokens: 59.0,
                    at: T0,
                },
            )],
            T0 + 30.0,
        );
        assert!(limiter.take_pending(T0 + 61.0).is_empty());
    }

    #[test]
    fn the_sql_counts_each_key_once_and_names_every_parameter() {
        let rate = Rate::per_minute(100).unwrap();
        let batch = [(Uuid::now_v7(), 3), (Uuid::now_v7(), 0)];
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let s = sync_statement(backend, rate, &batch, T0);
            let values = s.values.expect("bound values").0;
            assert_eq!(values.len(), 8);
            let mark = if backend == DbBackend::Sqlite {
                "?"
            } else {
                "$"
            };
            for i in 1..=8 {
                assert!(s.sql.contains(&format!("{mark}{i}")), "{}", s.sql);
            }
            assert!(!s.sql.contains(&format!("{mark}9")));
        }
    }

    proptest! {
        /// However requests and refills interleave, a key never gets more than its
        /// burst plus what the elapsed time refilled.
        #[test]
        fn never_more_than_burst_plus_refill(
            per_minute in 1u32..500,
            gaps in proptest::collection::vec(0.0f64..2.0, 1..400),
        ) {
            let limiter = RateLimiter::new(per_minute);
            let key = Uuid::now_v7();
            let mut now = T0;
            let mut allowed = 0u32;
            for gap in &gaps {
                now += gap;
                if limiter.check(key, now).is_ok() {
                    allowed += 1;
                }
            }
            let bound = f64::from(per_minute) * (1.0 + (now - T0) / 60.0);
            prop_assert!(f64::from(allowed) <= bound + 1e-9, "{allowed} > {bound}");
        }

        /// A refill never goes above capacity nor back in time.
        #[test]
        fn refill_is_bounded_and_monotonic(
            per_minute in 1u32..10_000,
            tokens in -100.0f64..10_000.0,
            dt in -100.0f64..1_000.0,
        ) {
            let rate = Rate::per_minute(per_minute).unwrap();
            let b = rate.refill(Bucket { tokens, at: T0 }, T0 + dt);
            prop_assert!(b.tokens <= rate.capacity.max(tokens));
            prop_assert!(b.tokens >= tokens.min(rate.capacity));
            prop_assert!(b.at >= T0);
        }
    }
}
