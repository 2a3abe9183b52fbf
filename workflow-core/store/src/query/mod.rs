//! The queries, one file per table.

pub(crate) mod activity;
pub(crate) mod agents;
pub(crate) mod attempts;
pub(crate) mod dead_letters;
pub(crate) mod definitions;
pub(crate) mod missions;
pub(crate) mod outbox;
pub(crate) mod parents;
pub(crate) mod signals;
pub(crate) mod steps;
pub(crate) mod timers;

use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ConnectionTrait, DbBackend, QuerySelect};

/// `FOR UPDATE` (optionally `SKIP LOCKED`) on PostgreSQL. SQLite has a single writer
/// and no row locks: the caller's `BEGIN IMMEDIATE` transaction already excludes
/// every other writer, so the clause is left out (sea-query would drop it anyway).
pub(crate) fn for_update<C, Q>(c: &C, query: Q, skip_locked: bool) -> Q
where
    C: ConnectionTrait,
    Q: QuerySelect,
{
    match c.get_database_backend() {
        DbBackend::Postgres if skip_locked => {
            query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        }
        DbBackend::Postgres => query.lock_exclusive(),
        _ => query,
    }
}
