//! The alert rules, the dashboard and the compose stack only name metrics and
//! labels the code exports, so the assets cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use rex_observability::{DecisionLayer, DomainTier, FailureKind, Metrics, ProviderOutcome};
use serde_json::Value;

fn asset(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(asset(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A registry holding one sample of every family.
fn one_of_each() -> Metrics {
    let m = Metrics::new();
    m.step_started("reviver", "score");
    m.step_succeeded("reviver", "score", Duration::from_millis(5));
    m.step_failed(
        "reviver",
        "score",
        FailureKind::Retryable,
        Some(Duration::from_millis(5)),
    );
    m.step_retried("reviver", "score");
    m.worker_step_cancelled("reviver");
    m.step_deferred("outreach", "send");
    m.webhook_events("sendgrid", "accepted", 2);
    m.observe_dispatch_latency("reviver", Duration::from_millis(5));
    m.set_queue_depth("reviver", 1);
    m.set_queue_oldest_age("reviver", Duration::from_secs(1));
    m.dead_lettered("reviver");
    m.set_dead_letter_queue_depth("reviver", 1);
    m.set_missions("running", 1);
    m.set_missions_stalled(0);
    m.mission_started("hello");
    m.mission_finished("hello", "succeeded");
    m.set_outbox_backlog(1, Some(Duration::from_secs(1)));
    m.observe_timer_lateness(Duration::from_millis(5));
    m.provider_call(
        "sendgrid",
        "send",
        ProviderOutcome::Ok,
        Duration::from_millis(5),
        &[("emails", 1.0)],
    );
    m.provider_error("sendgrid", "send", "timeout");
    m.provider_cost("sendgrid", "emails", 1.0);
    m.decision(DecisionLayer::Rules, "suppress_on_sms_stop");
    m.suppression("unsubscribe");
    m.send_deferred("mailbox_daily_cap");
    m.set_domain_health("mail.acme.com", DomainTier::Good, 0.01, 0.0);
    m
}

/// Every rendered series name with the label names it carries.
fn rendered(m: &Metrics) -> BTreeMap<String, BTreeSet<String>> {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"([a-z_]+)=""#).unwrap());
    let mut series: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in m
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).expect("a sample line");
        let labels = series.entry(line[..name_end].to_owned()).or_default();
        if line[name_end..].starts_with('{') {
            let body = &line[name_end + 1..line.find('}').expect("closed labels")];
            labels.extend(LABEL.captures_iter(body).map(|c| c[1].to_owned()));
        }
    }
    series
}

static METRIC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\brex_[a-z0-9_]+\b").unwrap());
static SELECTOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(rex_[a-z0-9_]+)\{([^}]*)\}").unwrap());
static MATCHER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)").unwrap());
static GROUPING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:by|without)\s*\(([^)]*)\)").unwrap());

/// Labels every series has from the scrape, not from the code.
const TARGET_LABELS: [&str; 3] = ["instance", "job", "role"];

/// Checks one PromQL expression against the rendered series; returns the problems.
fn check_expr(expr: &str, series: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    // Grafana's interval variables are not PromQL; any duration stands in for them.
    let promql = expr
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m");
    if let Err(err) = promql_parser::parser::parse(&promql) {
        problems.push(format!("`{expr}` is not valid PromQL: {err}"));
    }
    let mut labels_in_scope: BTreeSet<String> =
        TARGET_LABELS.iter().map(|s| s.to_string()).collect();
    labels_in_scope.insert("le".into());
    for name in METRIC.find_iter(expr).map(|m| m.as_str()) {
        match series.get(name) {
            Some(labels) => labels_in_scope.extend(labels.iter().cloned()),
            None => problems.push(format!("unknown metric {name} in `{expr}`")),
        }
    }
    for selector in SELECTOR.captures_iter(expr) {
        let known = series.get(&selector[1]).cloned().unwrap_or_default();
        for matcher in MATCHER.captures_iter(&selector[2]) {
            let label = &matcher[1];
            if !known.contains(label) && !TARGET_LABELS.contains(&label) {
                problems.push(format!("{} has no label {label} (`{expr}`)", &selector[1]));
            }
        }
    }
    for grouping in GROUPING.captures_iter(expr) {
        for label in grouping[1]
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            if !labels_in_scope.contains(label) {
                problems.push(format!("no metric of `{expr}` has a label {label}"));
            }
        }
    }
    problems
}

#[test]
fn every_family_renders_once_it_has_a_sample() {
    let m = one_of_each();
    let series = rendered(&m);
    for family in m.family_names() {
        let present = series.keys().any(|name| {
            name == family
                || name
                    .strip_prefix(family.as_str())
                    .is_some_and(|suffix| ["_bucket", "_sum", "_count"].contains(&suffix))
        });
        assert!(present, "{family} has no sample: update one_of_each()");
    }
}

#[test]
fn alert_rules_name_only_exported_metrics_and_labels() {
    let series = rendered(&one_of_each());
    let rules = yaml("prometheus/alerts.yml");
    let mut alerts = BTreeSet::new();
    let mut problems = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("every rule is an alert");
            assert!(alerts.insert(name.to_owned()), "duplicate alert {name}");
            let expr = rule["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: expr"));
            assert!(rule["for"].is_string(), "{name}: for");
            let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
            assert!(
                ["warning", "critical"].contains(&severity),
                "{name}: severity {severity:?}"
            );
            assert!(
                rule["annotations"]["summary"].is_string(),
                "{name}: summary"
            );
            problems.extend(check_expr(expr, &series));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    for required in [
        "RexMissionsStalled",
        "RexDeadLettersGrowing",
        "RexStepErrorRateHigh",
        "RexOutboxBacklog",
        "RexSendingDomainCritical",
    ] {
        assert!(alerts.contains(required), "missing alert {required}");
    }
}

fn collect_exprs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_names_only_exported_metrics_and_covers_the_five_topics() {
    let series = rendered(&one_of_each());
    let dashboard: Value = serde_json::from_str(&read("grafana/rex-dashboard.json")).expect("json");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() > 20, "{} queries", exprs.len());
    let problems: Vec<String> = exprs.iter().flat_map(|e| check_expr(e, &series)).collect();
    assert!(problems.is_empty(), "{problems:#?}");

    // Every family has a panel, except those only alerts need.
    let used: BTreeSet<&str> = exprs
        .iter()
        .flat_map(|e| METRIC.find_iter(e).map(|m| m.as_str()))
        .collect();
    for family in one_of_each().family_names() {
        let shown = used.iter().any(|u| u.starts_with(family.as_str()));
        assert!(shown, "{family} is on no panel");
    }

    let titles: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| {
            p["title"]
                .as_str()
                .expect("every panel has a title")
                .to_lowercase()
        })
        .collect();
    for topic in ["throughput", "latency", "queue", "error", "domain health"] {
        assert!(
            titles.iter().any(|t| t.contains(topic)),
            "no panel about {topic}: {titles:?}"
        );
    }
    let ids: BTreeSet<u64> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids.len(), titles.len(), "panel ids are unique");
}

#[test]
fn the_compose_stack_runs_jaeger_and_prometheus_with_the_committed_files() {
    let compose = yaml("compose.yaml");
    let services = &compose["services"];
    let ports = |service: &str| -> Vec<String> {
        services[service]["ports"]
            .as_array()
            .unwrap_or_else(|| panic!("{service}: ports"))
            .iter()
            .map(|p| p.as_str().expect("port mapping").to_owned())
            .collect()
    };
    assert!(
        services["jaeger"]["image"]
            .as_str()
            .unwrap()
            .starts_with("jaegertracing/")
    );
    for port in ["4317:4317", "4318:4318", "16686:16686"] {
        assert!(ports("jaeger").contains(&port.to_owned()), "jaeger {port}");
    }
    assert!(ports("prometheus").contains(&"9090:9090".to_owned()));

    // Every file mounted from this folder exists.
    for (name, service) in services.as_object().unwrap() {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            if let Some(relative) = host.strip_prefix("./") {
                assert!(asset(relative).exists(), "{name} mounts missing {host}");
            }
        }
    }

    let prometheus = yaml("prometheus/prometheus.yml");
    assert_eq!(prometheus["rule_files"][0], "/etc/prometheus/alerts.yml");
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["job_name"], "rex", "alerts select job=\"rex\"");
    assert_eq!(job["metrics_path"], "/metrics");
    let targets: Vec<&str> = job["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["targets"].as_array().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        targets
            .iter()
            .all(|t| t.starts_with("host.docker.internal:")),
        "{targets:?}"
    );

    let datasource = yaml("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasource["datasources"][0]["url"],
        "http://prometheus:9090"
    );
}

#[test]
fn the_main_readme_tells_how_to_see_a_mission_in_jaeger() {
    let readme = read("../README.md");
    assert!(readme.contains("see a mission in Jaeger"));
    assert!(readme.contains("16686"));
}

#[test]
fn the_checker_catches_unknown_names_labels_and_bad_syntax() {
    let series = rendered(&one_of_each());
    assert!(
        check_expr(
            "sum by (agent) (rate(rex_steps_started_total[5m]))",
            &series
        )
        .is_empty()
    );
    for bad in [
        "sum by (agent) (rate(rex_steps_started_total[5m])",
        "rate(rex_step_started_total[5m])",
        "rex_queue_depth{queue=\"reviver\"}",
        "sum by (mission) (rate(rex_steps_started_total[5m]))",
    ] {
        assert!(!check_expr(bad, &series).is_empty(), "{bad} passed");
    }
}
