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
