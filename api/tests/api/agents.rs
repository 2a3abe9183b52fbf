//! `GET /v1/agents`: queues, work in flight and outcomes, read from the broker and the
//! checkpoints while missions really run — on SQLite with the in-process broker and on
//! PostgreSQL with RabbitMQ.

use std::time::Duration;

use axum::http::StatusCode;
use rex_api::ApiConfig;
use serde_json::{Value, json};

use crate::fixtures::{HELLO, TestApi, status_of};

const FAILING: &str = r#"{
  "name": "failing", "version": 1,
  "steps": [{"id": "boom", "agent": "fail", "action": "fail", "input": {"pattern": "fail"}}]
}"#;

fn config() -> ApiConfig {
    ApiConfig {
        agents: vec!["echo".into(), "noop".into()],
        ..ApiConfig::default()
    }
}

fn agent<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["agent"] == name)
        .unwrap_or_else(|| panic!("agent {name} not listed: {body}"))
}

async fn agents(api: &TestApi) -> Value {
    let r = api
        .call("GET", "/v1/agents", Some(&api.keys.reader), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body
}

/// Waits until `noop` reports `n` queued tasks.
async fn until_queued(api: &TestApi, n: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = agents(api).await;
        if agent(&body, "noop")["queued"] == json!(n) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "noop never had {n} queued tasks: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn queues_work_and_outcomes(api: TestApi) {
    api.push(HELLO).await;
    api.push(FAILING).await;

    let idle = agents(&api).await;
    let names: Vec<&str> = idle["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "noop"], "the configured agents, by name");
    let noop = agent(&idle, "noop");
    assert_eq!(
        (
            &noop["queued"],
            &noop["in_flight"],
            &noop["oldest_queued_seconds"]
        ),
        (&json!(0), &json!(0), &Value::Null)
    );
    assert_eq!(noop["recent"]["error_rate"], Value::Null);
    assert_eq!(noop["recent"]["window_seconds"], json!(300));

    // an orchestrator without workers: the first steps wait in noop's queue
    api.run_orchestrator();
    let mut ids = Vec::new();
    for name in ["Ada", "Grace", "Edsger"] {
        ids.push(api.start(&api.keys.a, "hello", json!({"name": name})).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = until_queued(&api, 3).await;
    let noop = agent(&waiting, "noop");
    assert_eq!(noop["in_flight"], json!(0));
    assert_eq!(noop["queue_ready"], json!(3), "{noop}");
    assert_eq!(noop["consumers"], json!(0), "{noop}");
    let age = noop["oldest_queued_seconds"].as_f64().expect("an age");
    assert!(age >= 0.2, "the oldest task waited at least 300 ms: {age}");
    // the orchestrator's gauges read the same: the queue-age gauge on /metrics
    rex_engine::sample_gauges(&api.state.engine, &["noop".to_owned()]).await;
    let metrics = api.call("GET", "/metrics", None, None).await;
    let text = metrics.body.as_str().expect("metrics text").to_owned();
    let gauge = text
        .lines()
        .find(|l| l.starts_with("rex_queue_oldest_message_age_seconds{agent=\"noop\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no queue-age sample for noop in:\n{text}"));
    assert!(gauge >= 0.2, "queue age gauge {gauge}");

    // workers drain the queue; outcomes are counted per agent
    api.run_worker();
    let failed = api.start(&api.keys.a, "failing", json!({})).await;
    for id in &ids {
        api.wait_for(&api.keys.a, *id, |m| status_of(m) == "succeeded")
            .await;
    }
    api.wait_for(&api.keys.a, failed, |m| status_of(m) == "failed")
        .await;
    let done = agents(&api).await;
    let noop = agent(&done, "noop");
    assert_eq!(
        (&noop["queued"], &noop["in_flight"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(noop["oldest_queued_seconds"], Value::Null);
    assert_eq!(noop["recent"]["succeeded"], json!(3));
    assert_eq!(noop["recent"]["error_rate"], json!(0.0));
    assert_eq!(agent(&done, "echo")["recent"]["succeeded"], json!(6));
    let fail = agent(&done, "fail");
    assert_eq!(fail["recent"]["failed"], json!(1), "{fail}");
    assert_eq!(fail["recent"]["error_rate"], json!(1.0));
    assert!(
        fail["consumers"].as_u64().is_some_and(|n| n >= 1),
        "a worker consumes fail's queue: {fail}"
    );
    api.cleanup().await;
}

#[tokio::test]
async fn agents_report_queues_work_and_outcomes_embedded() {
    queues_work_and_outcomes(TestApi::embedded(config()).await).await;
}

#[tokio::test]
async fn agents_report_queues_work_and_outcomes_on_postgres_and_rabbitmq() {
    queues_work_and_outcomes(TestApi::production(config()).await).await;
}

#[tokio::test]
async fn a_bad_window_is_refused_with_its_field() {
    let api = TestApi::embedded(config()).await;
    for window in ["0", "86401", "soon"] {
        let r = api
            .call(
                "GET",
                &format!("/v1/agents?window={window}"),
                Some(&api.keys.reader),
                None,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{window}: {r:?}"
        );
        assert_eq!(r.body["field"], json!("window"), "{window}: {r:?}");
    }
    let r = api
        .call("GET", "/v1/agents?window=60", Some(&api.keys.reader), None)
        .await;
    assert_eq!(
        agent(&r.body, "noop")["recent"]["window_seconds"],
        json!(60)
    );
    let r = api.call("GET", "/v1/agents", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    api.cleanup().await;
}
