//! Over a real socket, on PostgreSQL and RabbitMQ: the paths a deployment takes.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;

use rex_api::ApiConfig;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::events::{check_transitions, parse_sse};
use crate::fixtures::{HELLO, TestApi, WAITER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket_on_postgres_and_rabbitmq() {
    let api = TestApi::production(ApiConfig {
        events_poll: Duration::from_millis(100),
        ..ApiConfig::default()
    })
    .await;
    // a failing assertion must not leak the RabbitMQ queues: clean up, then fail
    let result = AssertUnwindSafe(scenario(&api)).catch_unwind().await;
    api.cleanup().await;
    match result {
        Ok(outcome) => outcome.unwrap(),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

async fn scenario(api: &TestApi) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(rex_api::serve_on(listener, api.state.clone(), stop.clone()));
    let http = reqwest::Client::new();
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());

    let ready = http.get(format!("{base}/readyz")).send().await?;
    anyhow::ensure!(ready.status() == 200, "not ready: {}", ready.text().await?);
    for def in [HELLO, WAITER] {
        let body = json!({"definition": serde_json::from_str::<Value>(def)?});
        let r = http
            .post(format!("{base}/v1/definitions"))
            .bearer_auth(&a)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "push: {}", r.text().await?);
    }
    api.run_engine();

    // idempotent start over the wire
    let start = json!({"definition": "hello", "input": {"name": "Ada"}});
    let first = http
        .post(format!("{base}/v1/missions"))
        .bearer_auth(&a)
        .header("idempotency-key", "pg-1")
        .json(&start)
        .send()
        .await?;
    anyhow::ensure!(first.status() == 201);
    let id = first.json::<Value>().await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let again = http
        .post(format!("{base}/v1/missions"))
        .bearer_auth(&a)
        .header("idempotency-key", "pg-1")
        .json(&start)
        .send()
        .await?;
    anyhow::ensure!(again.status() == 200);
    anyhow::ensure!(again.json::<Value>().await?["id"] == json!(id));

    // the live stream, read to its end
    let mut stream = http
        .get(format!("{base}/v1/missions/{id}/events"))
        .bearer_auth(&a)
        .send()
        .await?;
    anyhow::ensure!(stream.status() == 200);
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = stream.chunk().await? {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        anyhow::Ok(())
    })
    .await??;
    check_transitions(&parse_sse(&text), &["start", "greet", "repeat"]);

    let mission: Value = http
        .get(format!("{base}/v1/missions/{id}"))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(mission["status"] == json!("succeeded"), "{mission}");
    anyhow::ensure!(
        mission["steps"][2]["output"]["said"] == json!("Hello, Ada"),
        "{mission}"
    );

    // tenant isolation on PostgreSQL
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/missions/{id}")),
        (reqwest::Method::POST, format!("/v1/missions/{id}/cancel")),
    ] {
        let r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&b)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 404, "{path} answered {}", r.status());
    }
    let listed: Value = http
        .get(format!("{base}/v1/missions"))
        .bearer_auth(&b)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(listed["items"] == json!([]), "{listed}");

    // a signal over the wire, to a mission waiting for it
    let waiter: Value = http
        .post(format!("{base}/v1/missions"))
        .bearer_auth(&a)
        .json(&json!({"definition": "waiter"}))
        .send()
        .await?
        .json()
        .await?;
    let wid = waiter["id"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m: Value = http
            .get(format!("{base}/v1/missions/{wid}"))
            .bearer_auth(&a)
            .send()
            .await?
            .json()
            .await?;
        if m["steps"][1]["status"] == json!("waiting") {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never waited: {m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .post(format!("{base}/v1/missions/{wid}/signals"))
        .bearer_auth(&a)
        .json(&json!({"name": "lead.replied"}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200);
    anyhow::ensure!(r.json::<Value>().await?["outcome"] == json!("applied"));

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server).await???;
    Ok(())
}
