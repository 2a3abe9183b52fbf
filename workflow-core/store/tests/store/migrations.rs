use rex_migrations::{Migrator, MigratorTrait};
use rex_store::Store;

on_both_backends!(
    migrations_apply_twice_cleanly,
    migrations_roll_back_and_apply_again,
    concurrent_migrations_do_not_collide,
);

async fn migrations_apply_twice_cleanly(store: &Store) -> anyhow::Result<()> {
    // the fixture migrated once already
    store.migrate().await?;
    store.migrate().await?;
    assert!(
        Migrator::get_pending_migrations(store.conn())
            .await?
            .is_empty()
    );
    assert_eq!(
        Migrator::get_applied_migrations(store.conn()).await?.len(),
        Migrator::migrations().len()
    );
    assert_eq!(store.count_outbox().await?, 0);
    Ok(())
}

async fn migrations_roll_back_and_apply_again(store: &Store) -> anyhow::Result<()> {
    Migrator::down(store.conn(), None).await?;
    assert_eq!(
        Migrator::get_pending_migrations(store.conn()).await?.len(),
        Migrator::migrations().len()
    );
    store.migrate().await?;
    assert!(
        Migrator::get_pending_migrations(store.conn())
            .await?
            .is_empty()
    );
    assert!(store.list_definitions().await?.is_empty());
    Ok(())
}

async fn concurrent_migrations_do_not_collide(store: &Store) -> anyhow::Result<()> {
    Migrator::down(store.conn(), None).await?;
    let (a, b, c) = tokio::join!(store.migrate(), store.migrate(), store.migrate());
    a?;
    b?;
    c?;
    assert!(
        Migrator::get_pending_migrations(store.conn())
            .await?
            .is_empty()
    );
    Ok(())
}
