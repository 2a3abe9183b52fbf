use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use rex_api::ApiConfig;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::fixtures::{HELLO, TestApi};

/// The `data` of every SSE event until the stream ends (at most 20 s).
pub async fn read_events(api: &TestApi, key: &str, id: Uuid) -> Vec<Value> {
    let req = Request::get(format!("/v1/missions/{id}/events"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = response.into_body().into_data_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("a chunk")));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the stream ends after the mission finishes");
    parse_sse(&text)
}

pub fn parse_sse(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).expect("event data is JSON"))
        .collect()
}

/// Each step's statuses in the order they were sent.
pub fn check_transitions(events: &[Value], steps: &[&str]) {
    let rank = |s: &str| match s {
        "pending" => 0,
        "running" => 1,
        "succeeded" => 2,
        other => panic!("unexpected status {other}"),
    };
    for step in steps {
        let seen: Vec<&str> = events
            .iter()
            .filter(|e| e["step"] == json!(step))
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert!(!seen.is_empty(), "no event of {step}: {events:?}");
        assert!(
            seen.windows(2).all(|w| rank(w[0]) < rank(w[1])),
            "{step} went {seen:?}"
        );
        assert_eq!(seen.last(), Some(&"succeeded"), "{step}: {seen:?}");
    }
    // a step succeeds before the next one (it depends on it) starts running
    let position = |step: &str, status: &str| {
        events
            .iter()
            .position(|e| e["step"] == json!(step) && e["status"] == json!(status))
    };
    for pair in steps.windows(2) {
        if let (Some(done), Some(next)) =
            (position(pair[0], "succeeded"), position(pair[1], "running"))
        {
            assert!(
                done < next,
                "{} succeeded after {} ran: {events:?}",
                pair[0],
                pair[1]
            );
        }
    }
    let last = events.last().expect("events");
    assert_eq!(
        (last["step"].clone(), last["status"].clone()),
        (Value::Null, json!("succeeded"))
    );
}

#[tokio::test]
async fn the_event_stream_delivers_a_missions_transitions_in_order() {
    let api = TestApi::embedded(ApiConfig {
        // long: the transitions must come from the engine's broadcast
        events_poll: Duration::from_secs(30),
        ..ApiConfig::default()
    })
    .await;
    api.push(HELLO).await;
    let id = api
        .start(&api.keys.a, "hello", json!({"name": "Ada"}))
        .await;
    // the stream opens before anything ran: every later transition is live
    let reader = {
        let key = api.keys.reader.clone();
        let api = &api;
        async move { read_events(api, &key, id).await }
    };
    let engine = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        api.run_engine();
    };
    let (events, ()) = tokio::join!(reader, engine);
    assert_eq!(
        events[0]["step"],
        json!("start"),
        "the current state comes first: {events:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e["mission_id"] == json!(id.to_string()))
    );
    check_transitions(&events, &["start", "greet", "repeat"]);
    api.cleanup().await;
}

#[tokio::test]
async fn a_finished_missions_stream_sends_its_final_state_and_ends() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(HELLO).await;
    api.run_engine();
    let id = api
        .start(&api.keys.a, "hello", json!({"name": "Ada"}))
        .await;
    api.wait_for(&api.keys.a, id, |m| m["status"] == json!("succeeded"))
        .await;
    let events = read_events(&api, &api.keys.a, id).await;
    let states: Vec<(Value, Value)> = events
        .iter()
        .map(|e| (e["step"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        states,
        [
            (json!("start"), json!("succeeded")),
            (json!("greet"), json!("succeeded")),
            (json!("repeat"), json!("succeeded")),
            (Value::Null, json!("succeeded")),
        ]
    );
    api.cleanup().await;
}

#[tokio::test]
async fn stopping_the_server_ends_live_streams_instead_of_waiting_for_them() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(crate::fixtures::WAITER).await;
    let id = api.start(&api.keys.a, "waiter", json!({})).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(rex_api::serve_on(listener, api.state.clone(), stop.clone()));

    let mut stream = reqwest::Client::new()
        .get(format!("{base}/v1/missions/{id}/events"))
        .bearer_auth(&api.keys.a)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // the current state arrives at once; the mission then waits for an hour
    let first = stream.chunk().await.unwrap().expect("the current state");
    assert!(String::from_utf8_lossy(&first).contains("data:"));

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops with a stream open")
        .unwrap()
        .unwrap();
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
    api.cleanup().await;
}
