//! `analytics.report` on a synthetic campaign with a known winner.

use rex_agents::analytics::Analytics;
use rex_workers::Agent;
use serde_json::{Value, json};

use crate::common::ctx;

fn message(events: &mut Vec<Value>, id: String, variant: &str, positive: bool) {
    let at = |m: u32| format!("2026-11-20T10:{m:02}:00Z");
    let base = |kind: Value, m| json!({"message_id": id, "variant": variant, "at": at(m), "kind": kind, "framework": "pas", "send_hour": 10});
    events.push(base(json!({"type": "sent"}), 0));
    events.push(base(json!({"type": "delivered"}), 1));
    if positive {
        events.push(base(json!({"type": "reply", "positive": true}), 30));
    }
}

#[tokio::test]
async fn a_clear_winner_is_named_and_promoted() {
    let mut events = Vec::new();
    for i in 0..200 {
        message(&mut events, format!("a-{i}"), "a", i < 4);
        message(&mut events, format!("b-{i}"), "b", i < 30);
    }
    let out = Analytics
        .run(
            &ctx("report"),
            json!({"campaign_id": "camp-1", "events": events,
                   "excluded": [{"id": "l1", "reason": "suppressed"}, {"id": "l2", "reason": "suppressed"}],
                   "deliverability": {"can_send": true, "domains": [{"domain": "mail2.rex.example", "tier": "warning"}]}}),
        )
        .await
        .unwrap();
    assert_eq!(out["metrics"]["sent"], 400);
    assert_eq!(out["metrics"]["delivered"], 400);
    assert_eq!(out["metrics"]["positive_replies"], 34);
    assert_eq!(out["experiment"]["verdict"], "winner");
    assert_eq!(out["experiment"]["variant"], "b");
    assert_eq!(out["by_variant"]["b"]["metrics"]["positive_replies"], 30);
    assert_eq!(out["trends"].as_array().unwrap().len(), 1);
    let recs = out["recommendations"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "promote_variant" && r["target"] == "b"),
        "{recs:?}"
    );
    assert!(
        recs.iter()
            .any(|r| r["kind"] == "throttle_domain" && r["target"] == "mail2.rex.example")
    );
    assert_eq!(out["funnel"]["excluded_by_reason"]["suppressed"], 2);
    assert!((out["rates"]["positive_reply"].as_f64().unwrap() - 0.085).abs() < 1e-9);
}

#[tokio::test]
async fn no_events_is_an_empty_report_and_a_bad_event_names_its_index() {
    let out = Analytics
        .run(&ctx("report"), json!({"campaign_id": "c"}))
        .await
        .unwrap();
    assert_eq!(out["events"]["count"], 0);
    assert_eq!(out["metrics"]["sent"], 0);
    assert_eq!(out["experiment"]["verdict"], "no_winner");
    let err = Analytics
        .run(
            &ctx("report"),
            json!({"events": [{"message_id": "m", "at": "yesterday", "kind": {"type": "sent"}}]}),
        )
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.starts_with("input.events[0]:"),
        "{}",
        err.message
    );
}
