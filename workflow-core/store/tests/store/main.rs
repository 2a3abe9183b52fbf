//! The store's behaviour, one suite run against PostgreSQL and SQLite: each case is an
//! `async fn(&Store) -> anyhow::Result<()>` instantiated for both backends, each run on
//! a database of its own. PostgreSQL-only cases (row locks) live in `postgres_locks`.

/// Instantiates the listed cases of the enclosing module once per backend, as
/// `<module>::postgres::<case>` and `<module>::sqlite::<case>`.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() -> anyhow::Result<()> {
                    let db = rex_store::testing::fresh_postgres().await;
                    super::$case(&db).await?;
                    db.cleanup().await;
                    Ok(())
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() -> anyhow::Result<()> {
                    let db = rex_store::testing::fresh_sqlite().await;
                    super::$case(&db).await?;
                    db.cleanup().await;
                    Ok(())
                }
            )+
        }
    };
}

mod attempts;
mod definitions;
mod fixtures;
mod migrations;
mod missions;
mod outbox;
mod postgres_locks;
mod sqlite_writers;
mod steps;
mod timers;
