use std::time::Duration;

use super::*;

/// The sample line of `name` with exactly these labels, as rendered.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().expect("a number"))
}

#[test]
fn step_counters_and_histograms_render_with_their_labels_and_values() {
    let m = Metrics::new();
    m.step_started("reviver", "score");
    m.step_started("reviver", "score");
    m.step_started("icp", "segment");
    m.step_succeeded("reviver", "score", Duration::from_millis(30));
    m.step_failed(
        "reviver",
        "score",
        FailureKind::Retryable,
        Some(Duration::from_secs(2)),
    );
    m.step_failed("icp", "segment", FailureKind::Timeout, None);
    m.step_retried("reviver", "score");
    m.observe_dispatch_latency("reviver", Duration::from_millis(4));
    let text = m.render();

    let started = |labels| sample(&text, "rex_steps_started_total", labels);
    assert_eq!(started(r#"action="score",agent="reviver""#), Some(2.0));
    assert_eq!(started(r#"action="segment",agent="icp""#), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "rex_steps_succeeded_total",
            r#"action="score",agent="reviver""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_steps_failed_total",
            r#"action="score",agent="reviver",kind="retryable""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_steps_failed_total",
            r#"action="segment",agent="icp",kind="timeout""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_steps_retried_total",
            r#"action="score",agent="reviver""#
        ),
        Some(1.0)
    );
    let duration = r#"action="score",agent="reviver",outcome="succeeded""#;
    assert_eq!(
        sample(&text, "rex_step_duration_seconds_count", duration),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "rex_step_duration_seconds_sum", duration),
        Some(0.03)
    );
    assert_eq!(
        sample(
            &text,
            "rex_step_duration_seconds_bucket",
            r#"action="score",agent="reviver",outcome="succeeded",le="0.05""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_step_duration_seconds_bucket",
            r#"action="score",agent="reviver",outcome="succeeded",le="0.025""#
        ),
        Some(0.0)
    );
    // A timeout has no measured duration: no failed observation for icp.
    assert!(!text.contains(r#"agent="icp",outcome="failed""#));
    assert_eq!(
        sample(
            &text,
            "rex_dispatch_latency_seconds_count",
            r#"agent="reviver""#
        ),
        Some(1.0)
    );
}

#[test]
fn gauges_take_the_last_value_set() {
    let m = Metrics::new();
    m.set_queue_depth("reviver", 10);
    m.set_queue_depth("reviver", 3);
    m.set_queue_oldest_age("reviver", Duration::from_millis(1500));
    m.set_dead_letter_queue_depth("reviver", 2);
    m.dead_lettered("reviver");
    m.set_missions("running", 7);
    m.set_missions("succeeded", 0);
    m.set_missions_stalled(1);
    m.set_outbox_backlog(12, Some(Duration::from_secs(9)));
    let text = m.render();
    assert_eq!(
        sample(&text, "rex_queue_depth", r#"agent="reviver""#),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_queue_oldest_message_age_seconds",
            r#"agent="reviver""#
        ),
        Some(1.5)
    );
    assert_eq!(
        sample(&text, "rex_dead_letter_queue_depth", r#"agent="reviver""#),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "rex_dead_letters_total", r#"agent="reviver""#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "rex_missions", r#"state="running""#),
        Some(7.0)
    );
    assert_eq!(
        sample(&text, "rex_missions", r#"state="succeeded""#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "rex_missions_stalled", ""), Some(1.0));
    assert_eq!(sample(&text, "rex_outbox_backlog", ""), Some(12.0));
    assert_eq!(
        sample(&text, "rex_outbox_oldest_age_seconds", ""),
        Some(9.0)
    );

    m.set_outbox_backlog(0, None);
    let text = m.render();
    assert_eq!(sample(&text, "rex_outbox_backlog", ""), Some(0.0));
    assert_eq!(
        sample(&text, "rex_outbox_oldest_age_seconds", ""),
        Some(0.0)
    );
}

#[test]
fn domain_health_is_one_hot_over_the_five_tiers() {
    let m = Metrics::new();
    m.set_domain_health("mail.acme.com", DomainTier::Good, 0.01, 0.0005);
    m.set_domain_health("mail.acme.com", DomainTier::Critical, 0.06, 0.004);
    let text = m.render();
    for tier in DomainTier::ALL {
        let expected = if tier == DomainTier::Critical {
            1.0
        } else {
            0.0
        };
        let labels = format!(r#"domain="mail.acme.com",tier="{}""#, tier.as_str());
        assert_eq!(
            sample(&text, "rex_sending_domain_health", &labels),
            Some(expected),
            "{tier:?}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "rex_sending_domain_bounce_rate",
            r#"domain="mail.acme.com""#
        ),
        Some(0.06)
    );
    assert_eq!(
        sample(
            &text,
            "rex_sending_domain_complaint_rate",
            r#"domain="mail.acme.com""#
        ),
        Some(0.004)
    );
}

#[test]
fn providers_decisions_and_suppressions_are_counted() {
    let m = Metrics::new();
    m.provider_call("sendgrid", "send", ProviderOutcome::Ok, Duration::ZERO, &[]);
    m.provider_call("sendgrid", "send", ProviderOutcome::Ok, Duration::ZERO, &[]);
    m.provider_error("sendgrid", "send", "rate_limited");
    m.provider_cost("sendgrid", "emails", 2.0);
    m.provider_cost("llm", "prompt_tokens", 1200.0);
    m.provider_cost("llm", "prompt_tokens", -5.0);
    m.provider_cost("llm", "prompt_tokens", f64::NAN);
    m.decision(DecisionLayer::Rules, "suppress_on_sms_stop");
    m.decision(DecisionLayer::Rules, "suppress_on_sms_stop");
    m.decision(DecisionLayer::Rules, "all_gates_passed");
    m.decision(DecisionLayer::Llm, "llm_reasoner");
    m.decision(DecisionLayer::Fallback, "deterministic_classifier");
    m.suppression("unsubscribe");
    m.mission_started("lead-reactivation");
    m.mission_finished("lead-reactivation", "succeeded");
    m.observe_timer_lateness(Duration::from_millis(200));
    let text = m.render();
    assert_eq!(
        sample(
            &text,
            "rex_provider_calls_total",
            r#"operation="send",outcome="ok",provider="sendgrid""#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_provider_errors_total",
            r#"kind="rate_limited",operation="send",provider="sendgrid""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_provider_cost_total",
            r#"provider="llm",unit="prompt_tokens""#
        ),
        Some(1200.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_decisions_total",
            r#"layer="rules",rule="suppress_on_sms_stop""#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_decisions_total",
            r#"layer="rules",rule="all_gates_passed""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_decisions_total",
            r#"layer="llm",rule="llm_reasoner""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_decisions_total",
            r#"layer="fallback",rule="deterministic_classifier""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "rex_suppressions_total", r#"reason="unsubscribe""#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_missions_started_total",
            r#"workflow="lead-reactivation""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "rex_missions_finished_total",
            r#"state="succeeded",workflow="lead-reactivation""#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "rex_timer_lateness_seconds_count", ""),
        Some(1.0)
    );
}

#[test]
fn an_id_passed_as_a_label_cannot_explode_the_series_count() {
    let m = Metrics::new();
    for i in 0..1000 {
        m.step_started(&format!("agent-{i}"), "run");
    }
    let text = m.render();
    let series = text
        .lines()
        .filter(|l| l.starts_with("rex_steps_started_total{"))
        .count();
    assert_eq!(series, 65, "64 agents, then one \"other\"");
    assert_eq!(
        sample(
            &text,
            "rex_steps_started_total",
            r#"action="run",agent="other""#
        ),
        Some(936.0)
    );
}

#[test]
fn a_provider_call_counts_by_outcome_times_real_calls_and_adds_every_cost() {
    let m = Metrics::new();
    m.provider_call(
        "llm",
        "chat_completion",
        ProviderOutcome::Ok,
        Duration::from_millis(750),
        &[("prompt_tokens", 1200.0), ("completion_tokens", 300.0)],
    );
    m.provider_call(
        "llm",
        "chat_completion",
        ProviderOutcome::Error,
        Duration::from_secs(3),
        &[],
    );
    // a dry run is counted apart, never timed nor costed
    m.provider_call(
        "llm",
        "chat_completion",
        ProviderOutcome::DryRun,
        Duration::ZERO,
        &[("prompt_tokens", 99.0)],
    );
    m.provider_call(
        "hunter",
        "email_finder",
        ProviderOutcome::Ok,
        Duration::from_millis(200),
        &[("credits", 0.5)],
    );
    let text = m.render();
    let calls = |labels: &str| sample(&text, "rex_provider_calls_total", labels);
    let llm = r#"operation="chat_completion""#;
    assert_eq!(
        calls(&format!(r#"{llm},outcome="ok",provider="llm""#)),
        Some(1.0)
    );
    assert_eq!(
        calls(&format!(r#"{llm},outcome="error",provider="llm""#)),
        Some(1.0)
    );
    assert_eq!(
        calls(&format!(r#"{llm},outcome="dry_run",provider="llm""#)),
        Some(1.0)
    );
    let duration = |suffix: &str, labels: &str| {
        sample(
            &text,
            &format!("rex_provider_call_duration_seconds{suffix}"),
            labels,
        )
    };
    let llm_labels = format!(r#"{llm},provider="llm""#);
    assert_eq!(duration("_count", &llm_labels), Some(2.0));
    assert_eq!(duration("_sum", &llm_labels), Some(3.75));
    assert_eq!(
        duration("_bucket", &format!(r#"{llm},provider="llm",le="1""#)),
        Some(1.0)
    );
    assert_eq!(
        duration("_bucket", &format!(r#"{llm},provider="llm",le="5""#)),
        Some(2.0)
    );
    let cost = |labels: &str| sample(&text, "rex_provider_cost_total", labels);
    assert_eq!(cost(r#"provider="llm",unit="prompt_tokens""#), Some(1200.0));
    assert_eq!(
        cost(r#"provider="llm",unit="completion_tokens""#),
        Some(300.0)
    );
    assert_eq!(cost(r#"provider="hunter",unit="credits""#), Some(0.5));
    assert_eq!(
        duration("_count", r#"operation="email_finder",provider="hunter""#),
        Some(1.0)
    );
}

#[test]
fn every_family_is_registered_once_and_the_global_set_renders() {
    let m = Metrics::new();
    let mut names = m.family_names().to_vec();
    assert_eq!(names.len(), 30);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 30);
    assert!(names.iter().all(|n| n.starts_with("rex_")));

    metrics().decision(DecisionLayer::StateMachine, "sequence_not_active");
    assert!(
        render()
            .contains(r#"rex_decisions_total{layer="state_machine",rule="sequence_not_active"}"#)
    );
    assert!(render().contains("# TYPE rex_decisions_total counter"));
}
