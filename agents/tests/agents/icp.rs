//! `icp.segment`, `build_profile`, `rescore` on the demo data.

use rex_agents::icp::Icp;
use rex_workers::Agent;
use serde_json::json;

use crate::common::{clock, ctx, demo};

#[tokio::test]
async fn the_demo_customers_give_a_profile_versions_and_every_lead_a_fit() {
    let icp = Icp::new(clock());
    let seg = icp
        .run(
            &ctx("segment"),
            json!({"source": demo("won_customers.json")}),
        )
        .await
        .unwrap();
    let profile = &seg["profile"];
    assert_eq!(profile["sample_size"], 200);
    assert!(profile["average_deal_value"].as_f64().unwrap() > 0.0);
    assert!(!profile["segments"].as_array().unwrap().is_empty());

    let built = icp
        .run(&ctx("build_profile"), json!({"profile": profile}))
        .await
        .unwrap();
    assert_eq!(built["version"], 1);
    assert!(built["recommendations"].is_array());
    let again = icp
        .run(&ctx("build_profile"), json!({"profile": profile}))
        .await
        .unwrap();
    assert_eq!(again["version"], 2);

    let rescored = icp
        .run(
            &ctx("rescore"),
            json!({"profile_version": 1, "leads": demo("leads.json")}),
        )
        .await
        .unwrap();
    assert_eq!(rescored["rescored"], 1000);
    let d = &rescored["distribution"];
    let (p25, p50, p75) = (
        d["p25"].as_u64().unwrap(),
        d["p50"].as_u64().unwrap(),
        d["p75"].as_u64().unwrap(),
    );
    assert!(p25 <= p50 && p50 <= p75 && p75 <= 100, "{d}");
    assert!(rescored["fits"]["lead-0001"].is_u64());

    let inline = icp
        .run(
            &ctx("rescore"),
            json!({"profile": profile, "leads": [{"id": "x", "title": "CEO"}]}),
        )
        .await
        .unwrap();
    assert_eq!(inline["rescored"], 1);
}

#[tokio::test]
async fn an_unknown_profile_version_or_a_broken_profile_is_permanent() {
    let icp = Icp::new(clock());
    let err = icp
        .run(&ctx("rescore"), json!({"profile_version": 7, "leads": []}))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("input.profile_version: unknown profile version 7"),
        "{}",
        err.message
    );
    let err = icp
        .run(
            &ctx("build_profile"),
            json!({"profile": {"sample_size": "many"}}),
        )
        .await
        .unwrap_err();
    assert!(err.message.starts_with("input.profile:"), "{}", err.message);
    let err = icp
        .run(&ctx("segment"), json!({"customers": [{"company": "Acme"}]}))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("input.customers[0]: missing field"),
        "{}",
        err.message
    );
}

/// `icp.build_profile` and `rescore` with the profile versions in the domain store.
mod on_the_store {
    use rex_agents::icp::Icp;
    use rex_domain_store::{latest_icp_profile, tenant_by_slug};
    use rex_store::Store;
    use rex_workers::Agent;
    use serde_json::{Value, json};

    use crate::common::{clock, ctx, demo};

    on_both_backends!(
        build_profile_stores_numbered_versions_and_rescore_loads_the_latest,
        rescore_without_a_stored_profile_is_permanent,
    );

    fn icp(store: &Store) -> Icp {
        Icp::new(clock()).with_store(store.clone(), "default")
    }

    async fn build_profile_stores_numbered_versions_and_rescore_loads_the_latest(
        store: &Store,
    ) -> anyhow::Result<()> {
        let seg = icp(store)
            .run(
                &ctx("segment"),
                json!({"source": demo("won_customers.json")}),
            )
            .await?;
        let profile = seg["profile"].clone();
        // the second version differs: every won customer in mining
        let mut narrow = profile.clone();
        narrow["industries"] = json!({"mining": 1.0});

        // each build on a fresh agent, as on different workers
        let v1 = icp(store)
            .run(&ctx("build_profile"), json!({"profile": profile}))
            .await?;
        let v2 = icp(store)
            .run(&ctx("build_profile"), json!({"profile": narrow}))
            .await?;
        assert_eq!(
            (v1["version"].clone(), v2["version"].clone()),
            (json!(1), json!(2))
        );
        assert_eq!(v2["storage"], "domain_store");

        let tenant = tenant_by_slug(store.conn(), "default")
            .await?
            .expect("tenant");
        let latest = latest_icp_profile(store.conn(), tenant.id, "default")
            .await?
            .expect("stored");
        assert_eq!(latest.version, 2);
        assert_eq!(latest.profile, v2["profile"]);

        let leads = json!(demo("leads.json"));
        let stored = icp(store)
            .run(&ctx("rescore"), json!({"leads": leads}))
            .await?;
        assert_eq!(stored["profile_version"], 2);
        let inline = icp(store)
            .run(
                &ctx("rescore"),
                json!({"profile": v2["profile"], "leads": leads}),
            )
            .await?;
        assert_eq!(stored["fits"], inline["fits"]);
        let first = icp(store)
            .run(
                &ctx("rescore"),
                json!({"profile": v1["profile"], "leads": leads}),
            )
            .await?;
        assert_ne!(
            stored["fits"], first["fits"],
            "version 2 scores differently"
        );

        let err = icp(store)
            .run(
                &ctx("rescore"),
                json!({"profile_version": 1, "leads": leads}),
            )
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.starts_with("input.profile_version:"),
            "{}",
            err.message
        );
        Ok(())
    }

    async fn rescore_without_a_stored_profile_is_permanent(store: &Store) -> anyhow::Result<()> {
        let err = icp(store)
            .run(&ctx("rescore"), json!({"leads": Value::Array(vec![])}))
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.starts_with("input.profile: no stored profile"),
            "{}",
            err.message
        );
        Ok(())
    }
}
