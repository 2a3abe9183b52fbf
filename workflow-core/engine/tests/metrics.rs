//! A scrape of `/metrics` after real missions shows the counters with the right values.
//!
//! Its own test binary: the metrics registry is process-wide.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Backend, Harness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The value of the sample whose line starts with `series` (name and labels).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_a_run_counts_steps_missions_and_retries() {
    let mut h = Harness::new(Backend::Production).await;
    h.spawn_orchestrator().await;
    h.spawn_worker(2).await;
    h.push(
        r#"
name: counted
version: 1
steps:
  - {id: a, agent: echo, action: echo, input: {n: 1}}
  - {id: b, agent: echo, action: echo, input: {n: 2}, depends_on: [a]}
  - {id: flaky, agent: fail, action: fail, input: {pattern: "retry,ok"},
     retry: {max_attempts: 2, initial_delay: 50ms, jitter: 0}, depends_on: [b]}
"#,
    )
    .await;
    h.push(
        r#"
name: doomed
version: 1
steps:
  - {id: bad, agent: fail, action: fail, input: {pattern: fail}}
"#,
    )
    .await;
    let ok = h.start("counted", json!({})).await;
    let bad = h.start("doomed", json!({})).await;
    assert_eq!(
        h.wait(ok, Duration::from_secs(20)).await.status,
        "succeeded"
    );
    assert_eq!(h.wait(bad, Duration::from_secs(20)).await.status, "failed");
    rex_engine::sample_gauges(&h.engine, &["echo".into(), "fail".into()]).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        rex_observability::serve_metrics(listener, async move { s.cancelled().await }).await
    });
    let text = scrape(addr).await;
    stop.cancel();

    let echo = r#"{action="echo",agent="echo"}"#;
    assert_eq!(value(&text, &format!("rex_steps_started_total{echo}")), 2.0);
    assert_eq!(
        value(&text, &format!("rex_steps_succeeded_total{echo}")),
        2.0
    );
    assert_eq!(
        value(
            &text,
            r#"rex_steps_failed_total{action="fail",agent="fail",kind="retryable"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"rex_steps_failed_total{action="fail",agent="fail",kind="permanent"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"rex_steps_retried_total{action="fail",agent="fail"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"rex_missions_finished_total{state="succeeded",workflow="counted"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"rex_missions_finished_total{state="failed",workflow="doomed"}"#
        ),
        1.0
    );
    assert_eq!(value(&text, r#"rex_missions{state="succeeded"}"#), 1.0);
    assert_eq!(value(&text, r#"rex_missions{state="running"}"#), 0.0);
    assert_eq!(value(&text, r#"rex_queue_depth{agent="echo"}"#), 0.0);
    assert_eq!(value(&text, "rex_outbox_backlog"), 0.0);
    assert!(value(&text, r#"rex_dispatch_latency_seconds_count{agent="echo"}"#) >= 2.0);
    assert!(
        value(&text, "rex_timer_lateness_seconds_count") >= 1.0,
        "the retry timer"
    );
    h.finish().await;
}
