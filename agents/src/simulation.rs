//! Simulated runs: the dry-run providers' outside world, and time that skips what is
//! only waiting. Used by `rex demo` (the README's first command) and the end-to-end
//! campaign test; the engine, the agents and the store are the production ones.
//!
//! [`Driver::run`] loops, every `poll`:
//! 1. while anything is in flight (`Store::activity`: a task running, a mission not yet
//!    started, a message in the outbox) it only waits, reading the touches made and
//!    delivering the answers due every [`BUSY_SCAN`];
//! 2. when nothing is, it reads the touches made since its last look, schedules the
//!    world's answers ([`World`]) and delivers those due at the simulated now;
//! 3. after [`IDLE_CHECKS`] idle looks in a row with nothing due, it moves the
//!    [`SkipClock`] to the next world answer or timer, whichever comes first (a timer
//!    plus the driver's `quantum`, so that timers falling due close together fire in
//!    one go).
//!
//! A timer that is already due is never skipped past: the timer loop fires it first.
//! Several looks in a row guard the short windows in which a result travels between a
//! worker and the orchestrator (the step is still `running` then, so it is counted;
//! the looks cover a child's `child_finished` between the outbox and its apply).

pub mod clock;
pub mod seed;
pub mod world;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rex_store::Store;
use rex_store::entity::missions;
use uuid::Uuid;

pub use clock::SkipClock;
pub use seed::{Senders, seed_senders};
pub use world::{World, WorldStats};

/// Idle looks in a row before the clock moves.
pub const IDLE_CHECKS: u32 = 3;
/// Wall time with nothing running and nothing to skip to before a run is called stuck.
pub const STALL_GRACE: Duration = Duration::from_secs(3);
/// While work runs, how often the world's answers are read and delivered.
pub const BUSY_SCAN: Duration = Duration::from_millis(250);

/// Why a simulated run stopped before its mission finished.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error(transparent)]
    Store(#[from] rex_store::StoreError),
    #[error("mission {0} does not exist")]
    NoMission(Uuid),
    #[error(
        "mission {mission} is stuck at {at}: nothing runs, no timer is armed and the world has nothing left to answer"
    )]
    Stalled { mission: Uuid, at: DateTime<Utc> },
    #[error("mission {mission} did not finish within {limit:?} of wall time")]
    TimedOut { mission: Uuid, limit: Duration },
}

/// How a simulated run went.
#[derive(Debug, Clone)]
pub struct Finished {
    pub mission: missions::Model,
    pub world: WorldStats,
    /// Simulated time from start to finish.
    pub simulated: chrono::Duration,
    /// Wall time it took.
    pub wall: Duration,
    /// How many times the clock skipped ahead.
    pub skips: u64,
}

/// Drives one mission's simulated run to its end.
pub struct Driver {
    store: Store,
    clock: Arc<SkipClock>,
    world: World,
    poll: Duration,
    quantum: chrono::Duration,
    skips: u64,
}

impl Driver {
    pub fn new(store: Store, clock: Arc<SkipClock>, world: World) -> Self {
        Self {
            store,
            clock,
            world,
            poll: Duration::from_millis(10),
            quantum: chrono::Duration::zero(),
            skips: 0,
        }
    }

    /// Real time between looks (default 10 ms).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Each skip goes `quantum` past the next due time, so that what falls due within
    /// it fires in one go (default zero: exactly to the next due time). Timers then
    /// fire up to `quantum` late, as on a busy orchestrator; nothing fires early, and
    /// the agents still check windows and quiet hours at the time they actually run.
    pub fn with_quantum(mut self, quantum: chrono::Duration) -> Self {
        self.quantum = quantum.max(chrono::Duration::zero());
        self
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    /// Runs until `mission` ends (succeeded, failed or cancelled), for at most `limit`
    /// of wall time. `on_tick` sees the simulated now after every look (progress).
    pub async fn run(
        &mut self,
        mission: Uuid,
        limit: Duration,
        mut on_tick: impl FnMut(DateTime<Utc>, &WorldStats),
    ) -> Result<Finished, SimulationError> {
        let wall_start = std::time::Instant::now();
        let sim_start = self.clock.now();
        let mut idle = 0u32;
        let mut stalled_since: Option<std::time::Instant> = None;
        let mut last_scan = std::time::Instant::now();
        loop {
            if wall_start.elapsed() > limit {
                return Err(SimulationError::TimedOut { mission, limit });
            }
            let activity = self.store.activity().await?;
            if !activity.is_idle() {
                // work is running: nothing to skip. Answers due meanwhile are read and
                // delivered now and then; they are late by at most this pause.
                idle = 0;
                stalled_since = None;
                if last_scan.elapsed() >= BUSY_SCAN {
                    last_scan = std::time::Instant::now();
                    self.world.scan().await?;
                    self.world.deliver_due(self.clock.now()).await;
                    on_tick(self.clock.now(), self.world.stats());
                }
                tokio::time::sleep(self.poll * 4).await;
                continue;
            }

            let row = self
                .store
                .get_mission(mission)
                .await?
                .ok_or(SimulationError::NoMission(mission))?;
            if row.is_finished() {
                // answers already due still arrive (a late bounce is still a bounce)
                self.world.scan().await?;
                self.world.deliver_due(self.clock.now()).await;
                return Ok(Finished {
                    mission: row,
                    world: self.world.stats().clone(),
                    simulated: self.clock.now() - sim_start,
                    wall: wall_start.elapsed(),
                    skips: self.skips,
                });
            }

            last_scan = std::time::Instant::now();
            self.world.scan().await?;
            let now = self.clock.now();
            let delivered = self.world.deliver_due(now).await;
            on_tick(now, self.world.stats());
            let timer = rex_store::next_timer_due(self.store.conn()).await?;
            let due_now =
                timer.is_some_and(|t| t <= now) || self.world.next_due().is_some_and(|t| t <= now);
            if delivered == 0 && !due_now {
                idle += 1;
            } else {
                idle = 0;
                stalled_since = None;
            }
            if idle < IDLE_CHECKS {
                tokio::time::sleep(self.poll).await;
                continue;
            }
            idle = 0;
            // timers may fire up to `quantum` late; the world answers exactly on time
            let next = match (timer.map(|t| t + self.quantum), self.world.next_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let Some(at) = next else {
                // nothing to skip to: either a message is still on its way (a child's
                // `child_finished` between the outbox and its apply) or the mission
                // waits for something nobody will send
                let since = *stalled_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > STALL_GRACE {
                    return Err(SimulationError::Stalled { mission, at: now });
                }
                tokio::time::sleep(self.poll).await;
                continue;
            };
            stalled_since = None;
            let moved = self.clock.advance_to(at);
            if moved > chrono::Duration::zero() {
                self.skips += 1;
                tracing::debug!(to = %at, by = %moved, "simulated time skipped ahead");
            }
            // look again at once: the timer loop fires what is now due
        }
    }
}
