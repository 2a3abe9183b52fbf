//! The agents on the demo data, against local servers speaking the providers' shapes.
//! The store-backed agents (`deliverability`, `outreach`) run on a database of their
//! own per case, PostgreSQL and SQLite (a missing PostgreSQL fails the run).

/// Instantiates the listed cases of the enclosing module once per backend, as
/// `<module>::postgres::<case>` and `<module>::sqlite::<case>`; each case is an
/// `async fn(&rex_store::Store) -> anyhow::Result<()>` (the `TestDb` derefs to it).
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

mod analytics;
mod campaign;
mod common;
mod deliverability;
mod dry_run_usage;
mod events;
mod icp;
mod outreach;
mod personalizer;
mod reviver;
mod scraper;
mod store_world;
mod tenant_keys;
