//! The domain store's behaviour, one suite run against PostgreSQL and SQLite: each case
//! is an `async fn(&TestDb) -> anyhow::Result<()>` instantiated for both backends, each
//! on a database of its own. A missing PostgreSQL fails the run (`rex_store::testing`).

/// Instantiates the listed cases of the enclosing module once per backend, as
/// `<module>::postgres::<case>` and `<module>::sqlite::<case>`.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
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

mod catalog;
mod dry_run;
mod fixtures;
mod leads;
mod privacy;
mod rate_limits;
mod secrets;
mod send_path;
mod sending;
mod suppressions;
