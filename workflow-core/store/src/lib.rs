//! Rex's persistence: the sea-orm entities of every table and the queries the engine
//! runs on them, identical on PostgreSQL (production) and SQLite (embedded mode).
//!
//! Two layers:
//! - [`Store`] owns the connection pool and answers the self-contained questions of the
//!   API, the CLI and the workers (definitions, mission listings, attempt checkpoints);
//! - free functions generic over [`sea_orm::ConnectionTrait`] ([`lock_mission`],
//!   [`upsert_steps`], [`insert_outbox`], [`claim_due_timers`], …) run inside a
//!   transaction the caller opens (see [`Store::begin`]), so the orchestrator can
//!   commit a state change, its outbox messages and its timers atomically.
//!
//! Rows are plain data: statuses are strings whose meaning belongs to the state machine
//! in `rex-core`, which this crate does not depend on. The schema is `rex-migrations`.
//!
//! Timestamps are stored with microsecond precision on both backends (PostgreSQL's
//! resolution); every write truncates, so a row reads back exactly as it was written.

mod batch;
pub mod entity;
mod error;
mod query;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use entity::dead_letters;
pub use entity::{
    attempts, definitions, mission_keys, mission_parents, missions, outbox, signals, steps, timers,
};
pub use error::StoreError;
pub use query::activity::Activity;
pub use query::agents::{AttemptTally, TaskBacklog};
pub use query::attempts::{AttemptOutcome, Claim, NewAttempt};
pub use query::dead_letters::{
    DeadLetterFilter, NewDeadLetter, Recorded, mark_dead_letter_replayed,
};
pub use query::definitions::{NewDefinition, PutDefinition};
pub use query::missions::{
    Family, MissionFilter, MissionScope, insert_mission, insert_missions, list_missions_in,
    lock_mission, lock_missions, tenant_mission, update_missions,
};
pub use query::outbox::{NewOutbox, claim_outbox, delete_outbox, insert_outbox};
pub use query::parents::{
    ChildRow, ChildTallyRow, child_results, failed_children, insert_mission_parents, load_parents,
    tally_children, unfinished_children,
};
pub use query::signals::{
    insert_mission_keys, load_signals, running_missions_with_key, upsert_signals,
};
pub use query::steps::{load_steps, upsert_steps};
pub use query::timers::{
    claim_due_timers, delete_mission_timers, delete_timers, delete_timers_of_missions,
    insert_timers, next_timer_due,
};
pub use store::{Store, now, to_db_precision};

// the types callers need to use the free functions without naming sea-orm versions
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend};
