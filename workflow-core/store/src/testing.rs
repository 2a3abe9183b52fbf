//! Throwaway databases for tests (feature `testing`): each test gets its own
//! PostgreSQL database or SQLite file, migrated, so tests run in parallel.
//!
//! PostgreSQL is found through `REX_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, any database the role may
//! `CREATE DATABASE` from). A server that is down fails the test with a message saying
//! how to start it: a missing service is a failure, never a skip.

use std::ops::Deref;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend};
use uuid::Uuid;

use crate::Store;
use crate::store::redact;

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated store on a database of its own, removed when dropped (best effort) or
/// by [`TestDb::cleanup`].
#[derive(Debug)]
pub struct TestDb {
    store: Store,
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
    Sqlite {
        _dir: tempfile::TempDir,
    },
}

/// The admin url for test databases.
pub fn admin_url() -> String {
    std::env::var("REX_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A new, migrated PostgreSQL database `rex_test_<random>`.
///
/// # Panics
/// When PostgreSQL is not reachable, or the database cannot be created or migrated.
pub async fn fresh_postgres() -> TestDb {
    let admin_url = admin_url();
    let admin = connect_admin(&admin_url).await;
    let name = format!("rex_test_{}", Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    let _ = admin.close().await;

    let url = with_database(&admin_url, &name);
    let store = Store::connect(&url, 8)
        .await
        .unwrap_or_else(|e| panic!("connecting to test database {name}: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating test database {name}: {e}"));
    TestDb {
        store,
        url,
        kind: Kind::Postgres {
            admin_url,
            name,
            dropped: false,
        },
    }
}

/// A new, migrated SQLite database in a temporary directory.
///
/// # Panics
/// When the temporary file cannot be created or migrated.
pub async fn fresh_sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("rex.db").display());
    let store = Store::connect(&url, 4)
        .await
        .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating {url}: {e}"));
    TestDb {
        store,
        url,
        kind: Kind::Sqlite { _dir: dir },
    }
}

impl TestDb {
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The url of this database, to open more pools on it (another "process").
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pool and removes the database.
    pub async fn cleanup(mut self) {
        let _ = self.store.conn().clone().close().await;
        if let Kind::Postgres {
            admin_url,
            name,
            dropped,
        } = &mut self.kind
        {
            drop_database(admin_url, name).await;
            *dropped = true;
        }
    }
}

impl Deref for TestDb {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Kind::Postgres {
            admin_url,
            name,
            dropped: false,
        } = &self.kind
        else {
            return;
        };
        // Drop cannot await, and the test's runtime may be single-threaded: drop the
        // database from a thread with a runtime of its own, and wait for it
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let dropper = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin_url, &name));
            }
        });
        let _ = dropper.join();
    }
}

async fn connect_admin(admin_url: &str) -> DatabaseConnection {
    let mut delay = Duration::from_millis(100);
    let mut last_error = None;
    for _ in 0..4 {
        let mut opts = sea_orm::ConnectOptions::new(admin_url);
        opts.max_connections(1)
            .connect_timeout(Duration::from_secs(2))
            .sqlx_logging(false);
        match Database::connect(opts).await {
            Ok(conn) if conn.get_database_backend() == DbBackend::Postgres => return conn,
            Ok(_) => panic!(
                "REX_TEST_DATABASE_URL must be a postgres:// url, got {}",
                redact(admin_url)
            ),
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    panic!(
        "PostgreSQL not reachable at {} ({}) — start it with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
         or point REX_TEST_DATABASE_URL at a server where this role may CREATE DATABASE",
        redact(admin_url),
        last_error.map(|e| e.to_string()).unwrap_or_default()
    );
}

async fn drop_database(admin_url: &str, name: &str) {
    let mut opts = sea_orm::ConnectOptions::new(admin_url);
    opts.max_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    if let Ok(admin) = Database::connect(opts).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        let _ = admin.close().await;
    }
}

/// `admin_url` with its database replaced by `name`, query string kept.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_an_admin_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
    }
}
