use rex_store::{PutDefinition, Store, StoreError};

use crate::fixtures::new_definition;

on_both_backends!(
    a_definition_is_stored_and_read_back,
    latest_version_is_the_highest,
    same_version_and_hash_is_unchanged,
    same_version_with_another_hash_is_a_conflict,
    concurrent_puts_of_one_version_create_it_once,
);

async fn a_definition_is_stored_and_read_back(store: &Store) -> anyhow::Result<()> {
    let created = match store
        .put_definition(new_definition("revive", 1, "a"))
        .await?
    {
        PutDefinition::Created(m) => m,
        other => panic!("expected Created, got {other:?}"),
    };
    assert_eq!(created.name, "revive");
    assert_eq!(created.description.as_deref(), Some("revive v1"));

    let by_name = store.get_definition("revive", Some(1)).await?;
    assert_eq!(by_name.as_ref(), Some(&created));
    assert_eq!(
        store.get_definition_by_id(created.id).await?,
        Some(created.clone())
    );
    assert_eq!(store.get_definition("revive", Some(2)).await?, None);
    assert_eq!(store.get_definition("unknown", None).await?, None);
    assert_eq!(
        store.get_definition_by_id(uuid::Uuid::now_v7()).await?,
        None
    );
    Ok(())
}

async fn latest_version_is_the_highest(store: &Store) -> anyhow::Result<()> {
    for (name, version) in [
        ("revive", 2),
        ("revive", 10),
        ("revive", 1),
        ("analytics", 3),
    ] {
        store
            .put_definition(new_definition(name, version, "a"))
            .await?;
    }
    let latest = store.get_definition("revive", None).await?.expect("latest");
    assert_eq!(latest.version, 10);

    let listed: Vec<(String, i32)> = store
        .list_definitions()
        .await?
        .into_iter()
        .map(|d| (d.name, d.version))
        .collect();
    assert_eq!(
        listed,
        [
            ("analytics".to_owned(), 3),
            ("revive".to_owned(), 1),
            ("revive".to_owned(), 2),
            ("revive".to_owned(), 10),
        ]
    );
    Ok(())
}

async fn same_version_and_hash_is_unchanged(store: &Store) -> anyhow::Result<()> {
    let first = store
        .put_definition(new_definition("revive", 1, "a"))
        .await?
        .into_model();
    let again = store
        .put_definition(new_definition("revive", 1, "a"))
        .await?;
    assert_eq!(again, PutDefinition::Unchanged(first));
    assert_eq!(store.list_definitions().await?.len(), 1);
    Ok(())
}

async fn same_version_with_another_hash_is_a_conflict(store: &Store) -> anyhow::Result<()> {
    let first = store
        .put_definition(new_definition("revive", 1, "a"))
        .await?
        .into_model();
    let err = store
        .put_definition(new_definition("revive", 1, "b"))
        .await
        .expect_err("a stored version is immutable");
    assert!(
        matches!(&err, StoreError::DefinitionConflict { name, version: 1 } if name == "revive"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(store.get_definition("revive", Some(1)).await?, Some(first));
    // a new version with the new content is fine
    store
        .put_definition(new_definition("revive", 2, "b"))
        .await?;
    Ok(())
}

async fn concurrent_puts_of_one_version_create_it_once(store: &Store) -> anyhow::Result<()> {
    let puts = (0..4).map(|_| store.put_definition(new_definition("revive", 1, "a")));
    let results = futures::future::join_all(puts).await;
    let created = results
        .into_iter()
        .map(|r| r.map(|p| matches!(p, PutDefinition::Created(_))))
        .collect::<Result<Vec<bool>, _>>()?;
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    Ok(())
}
