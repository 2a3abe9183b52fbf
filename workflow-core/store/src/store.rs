//! The connection pool and the operations that need no caller transaction.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rex_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};

use crate::StoreError;

/// A cheap `Clone` handle on the pool.
#[derive(Clone, Debug)]
pub struct Store {
    conn: DatabaseConnection,
}

/// SQLite waits this long for the writer lock before answering "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Serialises concurrent `migrate` calls of several processes on PostgreSQL.
const MIGRATION_LOCK_KEY: i64 = 0x0072_6578_5f6d_6967; // "rex_mig"

impl Store {
    /// Opens a pool on `postgres://…`, `sqlite://path?mode=rwc` or `sqlite::memory:`.
    ///
    /// SQLite gets WAL (readers never block the writer), a 5 s busy timeout and foreign
    /// keys; an in-memory database gets exactly one connection that is never recycled,
    /// since each connection would otherwise see its own empty database.
    /// PostgreSQL gets `max_connections` (at least 1), 10 s connect/acquire timeouts,
    /// idle connections closed after 10 min and recycled after 30 min.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let mut opts = ConnectOptions::new(url);
        opts.sqlx_logging(false);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            opts.max_connections(max_connections.max(1))
                .min_connections(0)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(Duration::from_secs(600))
                .max_lifetime(Duration::from_secs(1800));
        } else if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if in_memory {
                opts.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
            } else {
                opts.max_connections(max_connections.max(1));
            }
            // a writer waits for the lock (busy timeout), then for a pooled connection
            opts.acquire_timeout(Duration::from_secs(30))
                .map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                        .foreign_keys(true)
                });
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        }
        let conn = Database::connect(opts).await?;
        Ok(Store { conn })
    }

    /// Wraps a connection opened elsewhere (it keeps its own options).
    pub fn from_connection(conn: DatabaseConnection) -> Store {
        Store { conn }
    }

    /// Applies the pending migrations; a no-op when the schema is current. Runs in one
    /// transaction holding a lock (an advisory lock on PostgreSQL, the writer lock on
    /// SQLite), so several processes may start and migrate at once.
    /// Checks the database answers (a trivial query), for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await?;
        Ok(())
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        let txn = self.begin().await?;
        if self.backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [MIGRATION_LOCK_KEY.into()],
            ))
            .await?;
        }
        Migrator::up(&txn, None)
            .await
            .map_err(StoreError::Migration)?;
        txn.commit().await?;
        Ok(())
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Opens a write transaction for the free functions of this crate. On SQLite it is
    /// `BEGIN IMMEDIATE`: the writer lock is taken up front, so a transaction that reads
    /// then writes cannot fail half-way with "database is locked". On PostgreSQL it is a
    /// plain READ COMMITTED transaction; the row locks come from [`crate::lock_mission`].
    pub async fn begin(&self) -> Result<DatabaseTransaction, StoreError> {
        let txn = match self.backend() {
            DbBackend::Sqlite => {
                self.conn
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..Default::default()
                    })
                    .await?
            }
            _ => self.conn.begin().await?,
        };
        Ok(txn)
    }

    /// Closes the pool; pending queries finish first.
    pub async fn close(self) -> Result<(), StoreError> {
        self.conn.close().await?;
        Ok(())
    }
}

/// The current time at the precision the database keeps (microseconds).
pub fn now() -> DateTime<Utc> {
    to_db_precision(Utc::now())
}

/// Truncates to microseconds, PostgreSQL's resolution, so that a value written reads
/// back equal on both backends.
pub fn to_db_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The url without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("mysql://rex:secret@db/rex"),
            "mysql://rex:***@db/rex"
        );
        assert_eq!(redact("mysql://db/rex"), "mysql://db/rex");
    }

    #[test]
    fn db_precision_drops_nanoseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(to_db_precision(t).timestamp_subsec_nanos(), 123_456_000);
    }
}
