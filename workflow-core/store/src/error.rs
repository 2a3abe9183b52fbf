//! The store's one error type.

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stored definition version is immutable: the same (name, version) was put
    /// again with different content.
    #[error(
        "definition {name:?} version {version} already exists with different content \
         (bump the version to change it)"
    )]
    DefinitionConflict { name: String, version: i32 },

    #[error("{entity} {key:?} not found")]
    NotFound { entity: &'static str, key: String },

    #[error(
        "unsupported database url {0:?} (expected postgres://…, sqlite://… or sqlite::memory:)"
    )]
    UnsupportedUrl(String),

    #[error("database migration failed: {0}")]
    Migration(#[source] DbErr),

    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        StoreError::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// Whether running the same transaction again may succeed: serialization
    /// failures, deadlocks, lock timeouts, lost or refused connections, an exhausted
    /// pool, and SQLite's busy/locked.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Db(e) | StoreError::Migration(e) => db_err_is_retryable(e),
            StoreError::DefinitionConflict { .. }
            | StoreError::NotFound { .. }
            | StoreError::UnsupportedUrl(_) => false,
        }
    }

    /// A unique constraint rejected the write (e.g. a second mission with the same
    /// idempotency key, inserted concurrently).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(e) => matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
            _ => false,
        }
    }
}

fn db_err_is_retryable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_is_retryable(e)
        }
        _ => false,
    }
}

fn sqlx_is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // extended result code; the primary code is its low byte
                code.parse::<i32>()
                    .map(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
                    .unwrap_or(false)
            } else {
                pg_sqlstate_is_retryable(&code)
            }
        }
        _ => false,
    }
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

fn pg_sqlstate_is_retryable(code: &str) -> bool {
    matches!(
        code,
        "40001" // serialization_failure
            | "40P01" // deadlock_detected
            | "55P03" // lock_not_available
            | "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now
            | "53300" // too_many_connections
    ) || code.starts_with("08") // connection exceptions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_failures_and_deadlocks_are_retryable() {
        assert!(pg_sqlstate_is_retryable("40001"));
        assert!(pg_sqlstate_is_retryable("40P01"));
        assert!(pg_sqlstate_is_retryable("08006"));
        assert!(!pg_sqlstate_is_retryable("23505"));
    }

    #[test]
    fn conflicts_and_missing_rows_are_not_retryable() {
        let conflict = StoreError::DefinitionConflict {
            name: "revive".into(),
            version: 1,
        };
        assert!(!conflict.is_retryable());
        assert!(!StoreError::not_found("mission", "x").is_retryable());
        assert!(
            StoreError::Db(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
                .is_retryable()
        );
    }
}
