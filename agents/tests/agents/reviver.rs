//! `reviver.import`, `score`, `plan` on the demo leads.

use std::collections::{BTreeMap, BTreeSet};

use rex_agents::reviver::Reviver;
use rex_workers::Agent;
use serde_json::{Value, json};

use crate::common::{clock, ctx, demo, leads, reachable_lead};

async fn import_demo() -> Value {
    Reviver::new(clock())
        .run(
            &ctx("import"),
            json!({"source": demo("leads.json"), "campaign_id": "camp-1"}),
        )
        .await
        .expect("import")
}

#[tokio::test]
async fn import_counts_match_the_demo_files_known_defects() {
    let out = import_demo().await;
    assert_eq!(
        out["counts"],
        json!({"total": 1000, "imported": 1000, "rejected": 0, "warnings": 17, "suppressed": 12})
    );
    let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
    for lead in leads(&out) {
        for w in lead["warnings"].as_array().unwrap() {
            *by_field
                .entry(w["field"].as_str().unwrap().to_owned())
                .or_default() += 1;
            let field = w["field"].as_str().unwrap();
            if field != "timezone" {
                assert!(
                    lead[field].is_null(),
                    "a malformed {field} is cleared: {lead}"
                );
                assert!(!w["value"].is_null());
            } else {
                assert_eq!(lead["timezone_valid"], json!(false));
                assert!(!lead["timezone"].is_null(), "an unknown zone stays");
            }
        }
    }
    let expected: BTreeMap<String, usize> = [
        ("email".into(), 6),
        ("phone".into(), 6),
        ("timezone".into(), 5),
    ]
    .into();
    assert_eq!(by_field, expected);
    let valid_zones = leads(&out)
        .iter()
        .filter(|l| l["timezone_valid"] == json!(true))
        .count();
    assert_eq!(valid_zones, 995);
}

#[tokio::test]
async fn import_rejects_only_records_without_an_id_and_second_copies() {
    let out = Reviver::new(clock())
        .run(
            &ctx("import"),
            json!({"leads": [
                {"id": "a", "email": "ana@@x.example", "timezone": "Mars/Olympus"},
                {"first_name": "No", "last_name": "Id"},
                {"id": "a"},
                "not a record"
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(out["counts"]["imported"], 1);
    assert_eq!(out["counts"]["rejected"], 3);
    let reasons: Vec<&str> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "no id",
            "duplicate id (first at record 0)",
            "not a JSON object"
        ]
    );
    let lead = &leads(&out)[0];
    assert_eq!(
        lead["warnings"][0],
        json!({"field": "email", "value": "ana@@x.example", "reason": "not an email address"})
    );
    assert_eq!(lead["timezone_valid"], false);
}

#[tokio::test]
async fn import_of_a_missing_file_is_permanent_and_names_the_field() {
    let err = Reviver::new(clock())
        .run(&ctx("import"), json!({"source": "no/such/leads.json"}))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("input.source: cannot read no/such/leads.json"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn score_excludes_the_suppressed_and_orders_by_score() {
    let imported = import_demo().await;
    let suppressed: BTreeSet<&str> = leads(&imported)
        .iter()
        .filter(|l| !l["suppression"].is_null())
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(suppressed.len(), 12);
    let reviver = Reviver::new(clock());
    let out = reviver
        .run(
            &ctx("score"),
            json!({"leads": imported["leads"], "min_score": 0}),
        )
        .await
        .unwrap();
    let kept = leads(&out);
    assert!(kept.iter().all(|l| l["suppression"].is_null()));
    let excluded: BTreeMap<&str, &str> = out["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    for id in &suppressed {
        let reason = excluded.get(id).copied();
        assert!(
            matches!(reason, Some("suppressed" | "do_not_contact")),
            "{id}: {reason:?}"
        );
    }
    assert!(excluded.values().any(|r| *r == "suppressed"));
    assert_eq!(kept.len() + excluded.len(), 1000);
    let totals: Vec<u64> = kept
        .iter()
        .map(|l| l["score"]["total"].as_u64().unwrap())
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "best first");
    let s = &kept[0]["score"];
    let parts: u64 = ["recency", "engagement", "stage", "lost_reason", "fit"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(parts, s["total"].as_u64().unwrap());

    let capped = reviver
        .run(
            &ctx("score"),
            json!({"leads": imported["leads"], "min_score": 40, "max_leads": 25}),
        )
        .await
        .unwrap();
    assert_eq!(leads(&capped).len(), 25);
    let reasons: BTreeSet<&str> = capped["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains("over_max_leads") && reasons.contains("below_min_score"),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn plan_gives_a_reachable_lead_six_steps_and_an_unknown_zone_only_linkedin() {
    let reachable = reachable_lead("lead-1");
    let mut lost_zone = reachable_lead("lead-2");
    lost_zone["timezone"] = json!("Mars/Olympus");
    let mut nothing = reachable_lead("lead-3");
    for field in ["email", "phone", "linkedin_url"] {
        nothing[field] = Value::Null;
    }
    let out = Reviver::new(clock())
        .run(
            &ctx("plan"),
            json!({"leads": [reachable, lost_zone, nothing]}),
        )
        .await
        .unwrap();
    let planned = leads(&out);
    assert_eq!(planned.len(), 2);
    assert_eq!(planned[0]["plan"].as_array().unwrap().len(), 6);
    assert_eq!(
        planned[0]["channels"],
        json!({"s1": "email", "s2": "linkedin", "s3": "email", "s4": "sms", "s5": "email", "s6": "email"})
    );
    assert_eq!(
        planned[0]["plan"][0],
        json!({"step": 1, "day_offset": 0, "channel": "email", "framework": "pas", "purpose": "reopen"})
    );
    assert_eq!(
        planned[0]["first_name"], "Ana",
        "fields are added, never removed"
    );
    let channels = &planned[1]["channels"];
    assert!(
        channels
            .as_object()
            .unwrap()
            .values()
            .all(|c| c == "linkedin"),
        "{channels}"
    );
    let reasons = planned[1]["excluded_channels"].to_string();
    assert!(reasons.contains("unknown_time_zone"), "{reasons}");
    assert_eq!(
        out["dropped"],
        json!([{"id": "lead-3", "reason": "no usable channel", "excluded_channels": out["dropped"][0]["excluded_channels"]}])
    );
}

#[tokio::test]
async fn bad_input_is_permanent_and_names_the_field() {
    let reviver = Reviver::new(clock());
    let err = reviver
        .run(&ctx("score"), json!({"leads": "nope"}))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.message, "input.leads: expected an array");
    let mut lead = reachable_lead("x");
    lead["history"]["stage"] = json!("closed_won_maybe");
    let err = reviver
        .run(&ctx("score"), json!({"leads": [lead]}))
        .await
        .unwrap_err();
    assert!(
        err.message
            .starts_with("input.leads[0].history.stage: unknown variant"),
        "{}",
        err.message
    );
    let err = reviver
        .run(&ctx("score"), json!({"leads": [], "min_score": 101}))
        .await
        .unwrap_err();
    assert!(
        err.message.starts_with("input.min_score"),
        "{}",
        err.message
    );
    let err = reviver.run(&ctx("plan"), json!([])).await.unwrap_err();
    assert_eq!(err.message, "input: expected a JSON object");
    let err = reviver.run(&ctx("explode"), json!({})).await.unwrap_err();
    assert!(err.message.contains("unknown action \"explode\""));
}

#[tokio::test]
async fn import_without_a_store_writes_nothing_and_says_so() {
    let out = import_demo().await;
    assert_eq!(out["persisted"], json!(false));
    assert!(out["counts"].get("inserted").is_none());
}

/// `reviver.import` with the domain store: leads upserted, suppressions on the ledger.
mod on_the_store {
    use rex_agents::reviver::Reviver;
    use rex_domain::Channel;
    use rex_domain_store::{
        LeadFilter, LeadRow, create_tenant, import_leads, is_suppressed, lead_by_external_id,
        list_leads, tenant_by_slug,
    };
    use rex_store::Store;
    use rex_workers::Agent;
    use serde_json::{Value, json};

    use crate::common::{clock, ctx, demo, reachable_lead};

    on_both_backends!(
        import_persists_the_demo_leads_and_their_suppressions_once,
        a_row_the_store_refuses_is_rejected_with_its_row_and_field,
        a_tenants_mission_imports_for_that_tenant_only,
    );

    fn reviver(store: &Store) -> Reviver {
        Reviver::new(clock()).with_store(store.clone(), "default")
    }

    async fn import(store: &Store, input: Value) -> anyhow::Result<Value> {
        Ok(reviver(store).run(&ctx("import"), input).await?)
    }

    async fn import_persists_the_demo_leads_and_their_suppressions_once(
        store: &Store,
    ) -> anyhow::Result<()> {
        let c = store.conn();
        let now = rex_domain::demo::as_of();
        // another tenant's lead with the same CRM id must not be touched
        let other = create_tenant(c, "other", "Other", now).await?.id;
        let theirs = LeadRow {
            external_id: "lead-0001".into(),
            email: Some("someone@other.example".into()),
            source: "crm".into(),
            stage: "demo".into(),
            ..LeadRow::default()
        };
        import_leads(c, other, &[theirs], now).await?;
        let before = lead_by_external_id(c, other, "lead-0001").await?.unwrap();

        let input = json!({"source": demo("leads.json"), "campaign_id": "camp-1"});
        let first = import(store, input.clone()).await?;
        assert_eq!(first["persisted"], json!(true));
        let counts = &first["counts"];
        let imported = counts["imported"].as_u64().unwrap();
        assert_eq!(imported, 1000, "{counts}");
        assert_eq!(counts["inserted"], json!(imported), "{counts}");
        assert_eq!(counts["rejected"], json!(0), "{:#}", first["rejected"]);
        assert_eq!(counts["ledger"], json!({"new": 12, "existing": 0}));

        let tenant = tenant_by_slug(c, "default").await?.unwrap().id;
        let stored = list_leads(
            c,
            tenant,
            &LeadFilter {
                limit: 5000,
                ..LeadFilter::default()
            },
        )
        .await?;
        assert_eq!(stored.len() as u64, imported);
        let unsubscribed = "lukasw@copperleafoutfitters.example";
        assert!(
            is_suppressed(c, tenant, Channel::Email, unsubscribed, now)
                .await?
                .is_some()
        );
        let entry = is_suppressed(c, tenant, Channel::Sms, "+6522415902", now)
            .await?
            .expect("an SMS STOP is on the ledger for the phone");
        assert!(entry.source_event.starts_with("import:"));
        assert!(entry.source_event.ends_with("leads.json"));
        assert!(
            is_suppressed(c, other, Channel::Email, unsubscribed, now)
                .await?
                .is_none(),
            "the ledger is per tenant"
        );

        let second = import(store, input).await?;
        let counts = &second["counts"];
        assert_eq!(counts["inserted"], json!(0), "{counts}");
        assert_eq!(counts["updated"], json!(0), "{counts}");
        assert_eq!(counts["unchanged"], json!(imported), "{counts}");
        assert_eq!(counts["ledger"], json!({"new": 0, "existing": 12}));
        assert_eq!(
            counts["companies"]["inserted"],
            json!(0),
            "companies too: {counts}"
        );

        let after = lead_by_external_id(c, other, "lead-0001").await?.unwrap();
        assert_eq!(after, before, "another tenant's lead is not touched");
        Ok(())
    }

    async fn a_row_the_store_refuses_is_rejected_with_its_row_and_field(
        store: &Store,
    ) -> anyhow::Result<()> {
        let mut bad = reachable_lead("bad");
        bad["country"] = json!("ZZ");
        let out = import(
            store,
            json!({"tenant": "acme", "leads": [{"first_name": "No id"}, reachable_lead("good"), bad]}),
        )
        .await?;
        assert_eq!(out["counts"]["imported"], json!(1), "{out:#}");
        assert_eq!(out["counts"]["inserted"], json!(1));
        assert_eq!(out["counts"]["rejected"], json!(2));
        let refused = &out["rejected"][1];
        assert_eq!(refused["id"], json!("bad"));
        assert_eq!(refused["row"], json!(3));
        assert_eq!(refused["field"], json!("country"));
        let tenant = tenant_by_slug(store.conn(), "acme").await?.unwrap().id;
        assert!(
            lead_by_external_id(store.conn(), tenant, "bad")
                .await?
                .is_none()
        );
        assert!(
            lead_by_external_id(store.conn(), tenant, "good")
                .await?
                .is_some()
        );
        Ok(())
    }

    /// A mission started through the API by tenant `acme` acts for `acme`: an input
    /// naming another tenant is refused and writes nothing anywhere.
    async fn a_tenants_mission_imports_for_that_tenant_only(store: &Store) -> anyhow::Result<()> {
        let c = store.conn();
        let mut task = ctx("import");
        task.tenant = "acme".into();
        let leads = json!([reachable_lead("lead-1")]);
        let err = reviver(store)
            .run(&task, json!({"tenant": "other", "leads": leads}))
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message
                .starts_with(r#"input.tenant: "other" is not this mission's tenant "acme""#),
            "{}",
            err.message
        );
        assert!(
            tenant_by_slug(c, "other").await?.is_none(),
            "not even created"
        );

        let out = reviver(store).run(&task, json!({"leads": leads})).await?;
        assert_eq!(out["counts"]["inserted"], json!(1), "{out:#}");
        let acme = tenant_by_slug(c, "acme").await?.expect("acme's row").id;
        assert!(lead_by_external_id(c, acme, "lead-1").await?.is_some());
        // the reviver's configured tenant ("default") got nothing
        if let Some(default) = tenant_by_slug(c, "default").await? {
            assert!(
                lead_by_external_id(c, default.id, "lead-1")
                    .await?
                    .is_none()
            );
        }
        Ok(())
    }
}
