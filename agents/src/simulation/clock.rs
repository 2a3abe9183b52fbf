//! A clock that runs at wall speed and skips ahead when nothing is running.
//!
//! The same idea as Temporal's test server "time skipping": while any step is in
//! flight, time passes as on the wall (so step timeouts, leases and back-offs measured
//! by the workers stay meaningful); once every mission is waiting — on a timer, a send
//! window or a signal the simulated world will send — the driver moves the clock to
//! the next thing that is due. Three weeks of sequences then take as long as their
//! work, not as long as their waits.
//!
//! Only forward: a jump never moves time back, so every timestamp the engine and the
//! agents write stays monotonic.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// Wall time plus an offset that only grows.
#[derive(Debug, Default)]
pub struct SkipClock {
    offset_us: AtomicI64,
}

impl SkipClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// How far ahead of the wall this clock is.
    pub fn skipped(&self) -> Duration {
        Duration::microseconds(self.offset_us.load(Ordering::Acquire))
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.skipped()
    }

    /// Moves the clock to `at` if that is ahead of it; returns how far it moved.
    pub fn advance_to(&self, at: DateTime<Utc>) -> Duration {
        let mut moved = Duration::zero();
        let _ = self
            .offset_us
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |offset| {
                let ahead = (at - (Utc::now() + Duration::microseconds(offset)))
                    .num_microseconds()
                    .unwrap_or(i64::MAX);
                if ahead <= 0 {
                    moved = Duration::zero();
                    return None;
                }
                moved = Duration::microseconds(ahead);
                Some(offset.saturating_add(ahead))
            });
        moved
    }
}

impl rex_core::protocol::Clock for SkipClock {
    fn now(&self) -> DateTime<Utc> {
        SkipClock::now(self)
    }
}

impl rex_adapters::clock::Clock for SkipClock {
    fn now(&self) -> DateTime<Utc> {
        SkipClock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_wall_and_only_moves_forward() {
        let clock = SkipClock::new();
        let wall = Utc::now();
        assert!((clock.now() - wall).num_milliseconds().abs() < 1_000);

        let target = wall + Duration::days(3);
        let moved = clock.advance_to(target);
        assert!(moved > Duration::days(3) - Duration::seconds(1));
        assert!(clock.now() >= target);

        // the past is not a destination
        assert_eq!(clock.advance_to(wall), Duration::zero());
        assert!(clock.now() >= target);
        assert!(clock.skipped() >= Duration::days(3) - Duration::seconds(1));
    }
}
