//! Delivery events, the enrichment cache, ICP profiles, experiments, and the schema's
//! rollback.

use chrono::Duration;
use rex_domain_store::{
    NewDeliveryEvent, NewExperiment, NewVariant, create_experiment, ensure_experiment,
    get_experiment, get_fresh_enrichment, latest_icp_profile, put_enrichment, put_icp_profile,
    record_delivery_event, tenant_by_slug,
};
use rex_migrations::{Migrator, MigratorTrait};
use rex_store::testing::TestDb;
use serde_json::json;

use crate::fixtures::{World, at, t0};

on_both_backends!(
    delivery_events_are_recorded_once_per_provider_event,
    enrichment_answers_are_reused_for_thirty_days,
    icp_profiles_and_experiments_round_trip,
    racing_senders_ensure_one_experiment_with_its_variants,
    the_domain_schema_rolls_back_and_applies_again,
);

async fn delivery_events_are_recorded_once_per_provider_event(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let other = World::new(db, "beta").await?;
    let event = NewDeliveryEvent {
        tenant_id: w.tenant,
        provider: "sendgrid".into(),
        provider_event_id: "sg-event-1".into(),
        message_id: None,
        provider_message_id: Some("x-msg-1".into()),
        kind: "bounce".into(),
        address_hash: Some(rex_domain_store::address_hash("ana@acme.example")),
        payload: json!({"event": "bounce", "type": "bounce"}),
        occurred_at: at(1),
        received_at: at(2),
    };
    assert!(record_delivery_event(c, &event).await?);
    assert!(!record_delivery_event(c, &event).await?);
    // the same id from another provider, or for another tenant, is another event
    assert!(
        record_delivery_event(
            c,
            &NewDeliveryEvent {
                provider: "twilio".into(),
                ..event.clone()
            }
        )
        .await?
    );
    assert!(
        record_delivery_event(
            c,
            &NewDeliveryEvent {
                tenant_id: other.tenant,
                ..event.clone()
            }
        )
        .await?
    );
    Ok(())
}

async fn enrichment_answers_are_reused_for_thirty_days(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let other = World::new(db, "beta").await?;
    let key = "hunter:ana@acme.example";
    put_enrichment(c, w.tenant, key, "hunter", json!({"score": 91}), t0()).await?;
    let fresh = get_fresh_enrichment(c, w.tenant, key, t0() + Duration::days(29)).await?;
    assert_eq!(fresh.expect("fresh").payload, json!({"score": 91}));
    assert!(
        get_fresh_enrichment(c, w.tenant, key, t0() + Duration::days(30))
            .await?
            .is_none()
    );
    assert!(
        get_fresh_enrichment(c, other.tenant, key, t0())
            .await?
            .is_none()
    );
    // a refetch replaces the answer and restarts the clock
    let later = t0() + Duration::days(31);
    put_enrichment(c, w.tenant, key, "apollo", json!({"score": 70}), later).await?;
    let fresh = get_fresh_enrichment(c, w.tenant, key, later)
        .await?
        .expect("fresh");
    assert_eq!(
        (fresh.provider.as_str(), fresh.fetched_at),
        ("apollo", later)
    );
    Ok(())
}

async fn icp_profiles_and_experiments_round_trip(db: &TestDb) -> anyhow::Result<()> {
    let c = db.conn();
    let w = World::new(db, "acme").await?;
    let other = World::new(db, "beta").await?;
    assert!(latest_icp_profile(c, w.tenant, "default").await?.is_none());
    put_icp_profile(
        c,
        w.tenant,
        "default",
        json!({"industries": ["saas"]}),
        at(0),
    )
    .await?;
    let v2 = put_icp_profile(
        c,
        w.tenant,
        "default",
        json!({"industries": ["fintech"]}),
        at(1),
    )
    .await?;
    assert_eq!(v2.version, 2);
    let latest = latest_icp_profile(c, w.tenant, "default")
        .await?
        .expect("profile");
    assert_eq!(latest.profile, json!({"industries": ["fintech"]}));
    assert!(
        latest_icp_profile(c, other.tenant, "default")
            .await?
            .is_none()
    );

    let created = create_experiment(
        c,
        &NewExperiment {
            tenant_id: w.tenant,
            campaign_id: Some(w.campaign),
            name: "subject-lines".into(),
            metric: "positive_reply_rate".into(),
            variants: ["a", "b"]
                .iter()
                .map(|k| NewVariant {
                    key: (*k).into(),
                    weight: 50,
                    payload: json!({"subject": k}),
                })
                .collect(),
        },
        at(2),
    )
    .await?;
    let read = get_experiment(c, w.tenant, created.experiment.id).await?;
    assert_eq!(read.as_ref(), Some(&created));
    assert!(
        get_experiment(c, other.tenant, created.experiment.id)
            .await?
            .is_none()
    );
    // an experiment of B cannot name A's campaign
    let err = create_experiment(
        c,
        &NewExperiment {
            tenant_id: other.tenant,
            campaign_id: Some(w.campaign),
            name: "x".into(),
            metric: "positive_reply_rate".into(),
            variants: vec![NewVariant {
                key: "a".into(),
                weight: 1,
                payload: json!({}),
            }],
        },
        at(3),
    )
    .await
    .unwrap_err();
    assert!(err.is_foreign_key_violation(), "{err}");
    Ok(())
}

async fn the_domain_schema_rolls_back_and_applies_again(db: &TestDb) -> anyhow::Result<()> {
    World::new(db, "acme").await?;
    Migrator::down(db.conn(), None).await?;
    db.migrate().await?;
    assert!(tenant_by_slug(db.conn(), "acme").await?.is_none());
    World::new(db, "acme").await?;
    Ok(())
}

async fn racing_senders_ensure_one_experiment_with_its_variants(db: &TestDb) -> anyhow::Result<()> {
    let w = World::new(db, "acme").await?;
    let keys = vec!["a".to_owned(), "b".to_owned()];
    // four "workers", each on its own connection, asking at once
    let mut racers = Vec::new();
    for _ in 0..4 {
        let (url, keys, tenant, campaign) =
            (db.url().to_owned(), keys.clone(), w.tenant, w.campaign);
        racers.push(tokio::spawn(async move {
            let store = rex_store::Store::connect(&url, 1).await?;
            let got = ensure_experiment(
                store.conn(),
                tenant,
                Some(campaign),
                "subject-v1",
                &keys,
                at(1),
            )
            .await?;
            store.close().await?;
            anyhow::Ok(got)
        }));
    }
    let mut seen = Vec::new();
    for r in racers {
        seen.push(r.await??);
    }
    let first = &seen[0];
    assert_eq!(first.variants.len(), 2, "{first:?}");
    for got in &seen {
        assert_eq!(got.experiment.id, first.experiment.id, "one experiment");
        let ids: Vec<_> = got.variants.iter().map(|v| (v.key.clone(), v.id)).collect();
        let want: Vec<_> = first
            .variants
            .iter()
            .map(|v| (v.key.clone(), v.id))
            .collect();
        assert_eq!(ids, want, "the same variants");
    }
    // asked again later, with other keys: the stored experiment as it is
    let again = ensure_experiment(db.conn(), w.tenant, None, "subject-v1", &[], at(2)).await?;
    assert_eq!(again.experiment.id, first.experiment.id);
    assert_eq!(again.variants.len(), 2);
    Ok(())
}
