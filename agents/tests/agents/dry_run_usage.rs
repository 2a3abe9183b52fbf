//! With no provider keys every call goes to a dry-run stand-in, and each one still
//! shows on `/metrics`: `rex_provider_calls_total{outcome="dry_run"}` under the live
//! client's operation name, exactly once per call, and no cost (nothing was billed).

use std::sync::Arc;

use rex_agents::MetricsUsage;
use rex_agents::scraper::Scraper;
use rex_observability::Metrics;
use rex_store::testing::TestDb;
use rex_workers::Agent;
use serde_json::json;

use crate::common::{ctx, reachable_lead};
use crate::store_world::{Providers, World, lead, send_input, task};

on_both_backends!(every_dry_run_call_is_counted_on_the_metrics_page_and_costs_nothing);

/// The value of the sample `name{labels}` in the exposition text, as Prometheus scrapes it.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|v| v.trim().parse().expect("a number"))
}

async fn every_dry_run_call_is_counted_on_the_metrics_page_and_costs_nothing(
    db: &TestDb,
) -> anyhow::Result<()> {
    // a registry of this test's own: the counts below are exact
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
    let w = World::new(db).await?;
    w.mailbox(db, "ana@mail.rex.example", 100, 40).await?;
    let mut config = w.config(&Providers::default());
    config.usage = Arc::new(MetricsUsage::recording_into(metrics));

    // two leads without an email: Hunter finds nothing (a dry run), then Apollo
    let emailless = |id: &str| {
        let mut lead = reachable_lead(id);
        lead["email"] = json!(null);
        lead
    };
    let enriched = Scraper::from_config(&config)?
        .run(
            &ctx("enrich"),
            json!({"leads": [emailless("l1"), emailless("l2")], "budget": 10}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    assert_eq!(enriched["spent"]["credits"], 0, "{enriched}");

    // one email and two texts through the outreach agent
    let outreach = rex_agents::outreach::Outreach::from_config((**db).clone(), &config)?;
    let sends = [
        ("m1", "email", "lead-1"),
        ("m2", "sms", "lead-2"),
        ("m3", "sms", "lead-3"),
    ];
    for (mission, channel, id) in sends {
        let out = outreach
            .run(
                &task("send", mission, "s1", 1),
                send_input(lead(id), channel),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        assert_eq!(out["status"], "sent", "{out}");
    }

    let text = metrics.render();
    let calls = |provider: &str, operation: &str| {
        sample(
            &text,
            "rex_provider_calls_total",
            &format!(r#"operation="{operation}",outcome="dry_run",provider="{provider}""#),
        )
    };
    assert_eq!(calls("hunter", "email_finder"), Some(2.0), "{text}");
    assert_eq!(calls("apollo", "people_match"), Some(2.0), "{text}");
    assert_eq!(calls("sendgrid", "send_email"), Some(1.0), "{text}");
    assert_eq!(calls("twilio", "send_sms"), Some(2.0), "{text}");
    // one series per (provider, operation) called, all of them dry runs
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rex_provider_calls_total{"))
        .collect();
    assert_eq!(series.len(), 4, "{series:#?}");
    // nothing billed, nothing timed: dry runs stay out of spend and of the quantiles
    assert!(!text.contains("rex_provider_cost_total{"), "{text}");
    assert!(
        !text.contains("rex_provider_call_duration_seconds_count{"),
        "{text}"
    );
    // and the dry-run log holds the same calls (4 lookups, 3 messages)
    assert_eq!(w.log.len(), 7);
    Ok(())
}
