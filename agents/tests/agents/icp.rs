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
    use rex_domain_store::{
        LeadRow, create_tenant, get_lead, import_leads, latest_icp_profile, lead_by_external_id,
        tenant_by_slug,
    };
    use rex_store::Store;
    use rex_workers::Agent;
    use serde_json::{Value, json};

    use crate::common::{clock, ctx, demo};

    on_both_backends!(
        build_profile_stores_numbered_versions_and_rescore_loads_the_latest,
        rescore_without_a_stored_profile_is_permanent,
        rescore_writes_each_known_leads_fit,
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

    async fn rescore_writes_each_known_leads_fit(store: &Store) -> anyhow::Result<()> {
        let c = store.conn();
        let tenant = create_tenant(c, "default", "Default", chrono::Utc::now())
            .await?
            .id;
        let rows: Vec<LeadRow> = ["lead-a", "lead-b"]
            .into_iter()
            .map(|id| LeadRow {
                external_id: id.into(),
                email: Some(format!("{id}@acme.example")),
                source: "crm".into(),
                stage: "demo".into(),
                ..Default::default()
            })
            .collect();
        import_leads(c, tenant, &rows, chrono::Utc::now()).await?;
        let before = lead_by_external_id(c, tenant, "lead-a")
            .await?
            .expect("lead");
        assert_eq!(before.fit, None);

        let seg = icp(store)
            .run(
                &ctx("segment"),
                json!({"source": demo("won_customers.json")}),
            )
            .await?;
        let out = icp(store)
            .run(
                &ctx("rescore"),
                json!({"profile": seg["profile"], "leads": [
                    {"id": "lead-a", "title": "CEO", "industry": "software"},
                    {"id": "lead-b", "title": "Intern"},
                    {"id": "not-stored", "title": "CTO"},
                ]}),
            )
            .await?;
        assert_eq!(out["rescored"], 3);
        assert_eq!(out["stored"], 2, "the unknown lead is left alone");
        for id in ["lead-a", "lead-b"] {
            let lead_id = lead_by_external_id(c, tenant, id).await?.expect("lead").id;
            let lead = get_lead(c, tenant, lead_id).await?.expect("lead");
            let fit = out["fits"][id].as_i64().expect("fit");
            assert_eq!(lead.fit.map(i64::from), Some(fit), "{id}");
        }
        // a re-import that changes the lead keeps its fit
        let mut changed = rows[0].clone();
        changed.title = Some("Founder".into());
        import_leads(c, tenant, &[changed], chrono::Utc::now()).await?;
        let after = lead_by_external_id(c, tenant, "lead-a")
            .await?
            .expect("lead");
        assert_eq!(after.title.as_deref(), Some("Founder"));
        assert_eq!(after.fit.map(i64::from), out["fits"]["lead-a"].as_i64());
        Ok(())
    }
}
