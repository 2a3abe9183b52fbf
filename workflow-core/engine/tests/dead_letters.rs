//! Dead letters end to end, on PostgreSQL + RabbitMQ and on SQLite + the in-process
//! broker: a task whose worker keeps handing it back is dead-lettered past the delivery
//! limit, drained into the `dead_letters` table with its error, and replayed to
//! completion once a healthy worker runs; replays and re-recordings are idempotent.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use rex_broker::{Broker, Destination, Message};
use rex_engine::dead_letters::{REPLAY_HEADER, replay};
use rex_engine::{Orchestrator, OrchestratorConfig};
use rex_store::{DeadLetterFilter, NewDeadLetter, Recorded, dead_letters};
use serde_json::json;
use support::{Backend, DELIVERY_LIMIT, Harness};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

both_backends!(
    a_task_past_the_delivery_limit_is_recorded_with_its_error_and_a_replay_completes_it,
    a_dead_letter_delivered_twice_is_recorded_once_with_the_consumers_error,
    recording_is_idempotent_and_a_replay_that_dies_again_reopens_its_row,
    replaying_an_unknown_dead_letter_is_an_error_naming_it,
    a_provider_event_the_inbox_gave_up_on_is_recorded_and_replayed_to_the_inbox,
);

const ONE_STEP: &str = r#"
name: one
version: 1
steps:
  - {id: a, agent: echo, action: echo, input: {n: 7}}
"#;

/// An orchestrator that also drains the `echo` agent's dead-letter queue (the harness's
/// own samples no agent), with a relay fast enough for a test.
async fn spawn_orchestrator(h: &Harness) -> CancellationToken {
    let engine = support::engine(h.store().await, h.broker().await);
    let config = OrchestratorConfig {
        relay_grace: Duration::from_millis(300),
        relay_interval: Duration::from_millis(100),
        timer_poll: Duration::from_millis(20),
        agents: vec!["echo".into()],
        ..OrchestratorConfig::default()
    };
    let token = CancellationToken::new();
    let run = token.clone();
    tokio::spawn(async move {
        Orchestrator::new(engine, config)
            .run(run)
            .await
            .expect("orchestrator failed");
    });
    token
}

/// The dead letters of `mission`, once there are `n` of them (fails after 10 s).
async fn dead_letters_of(h: &Harness, mission: Option<Uuid>, n: usize) -> Vec<dead_letters::Model> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows =
            h.db.list_dead_letters(DeadLetterFilter {
                mission_id: mission,
                ..DeadLetterFilter::default()
            })
            .await
            .expect("listing dead letters");
        if rows.len() >= n {
            assert_eq!(rows.len(), n, "too many dead letters: {rows:#?}");
            return rows;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("expected {n} dead letters after 10 s, found {rows:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker that crashes on every task: takes it and hands it back, until the broker
/// dead-letters it. Returns how many times it was delivered.
async fn crash_on_every_delivery(broker: &dyn Broker, agent: &str) -> u32 {
    let mut consumer = broker
        .consume(Destination::Agent(agent.into()), 1)
        .await
        .expect("consuming");
    let mut deliveries = 0;
    let mut wait = Duration::from_secs(10);
    while let Ok(Some(delivery)) = tokio::time::timeout(wait, consumer.next()).await {
        deliveries += 1;
        delivery.nack(true).await.expect("nack");
        wait = Duration::from_secs(1);
        assert!(deliveries <= 20, "never dead-lettered");
    }
    consumer.close().await;
    deliveries
}

async fn a_task_past_the_delivery_limit_is_recorded_with_its_error_and_a_replay_completes_it(
    backend: Backend,
) {
    let mut h = Harness::new(backend).await;
    let orchestrator = spawn_orchestrator(&h).await;
    h.push(ONE_STEP).await;
    let broker = h.broker().await;
    let id = h.start("one", json!({})).await;

    let deliveries = crash_on_every_delivery(broker.as_ref(), "echo").await;
    assert_eq!(deliveries, DELIVERY_LIMIT + 1);
    let rows = dead_letters_of(&h, Some(id), 1).await;
    let dead = &rows[0];
    assert_eq!(dead.destination, "echo");
    assert_eq!(dead.step_id.as_deref(), Some("a"));
    assert_eq!(dead.attempt, Some(1));
    assert_eq!(dead.message_id, format!("{id}:a:1"));
    assert_eq!(dead.reason, "delivery_limit");
    let error = dead.error.as_deref().unwrap_or_default();
    assert!(error.contains("delivery limit"), "{error}");
    assert_eq!(dead.payload["input"], json!({"n": 7}));
    assert_eq!((dead.replayed_at, dead.replay_count), (None, 0));
    assert_eq!(
        broker.dead_letter_count("echo").await.unwrap(),
        0,
        "drained"
    );
    assert_eq!(
        h.db.get_mission(id).await.unwrap().unwrap().status,
        "running",
        "the mission waits for its dead task"
    );

    // A healthy worker now; the replay completes the mission.
    h.spawn_worker(2).await;
    let replayed = replay(&h.engine, dead.id).await.expect("replay");
    assert!(replayed.published);
    assert_eq!(replayed.dead_letter.replay_count, 1);
    let m = h.wait(id, Duration::from_secs(15)).await;
    assert_eq!(m.status, "succeeded", "{m:?}");
    assert_eq!(m.output, Some(json!({"a": {"n": 7}})));

    // A second replay is answered from the checkpoint: the step does not run again.
    let again = replay(&h.engine, dead.id).await.expect("second replay");
    assert_eq!(again.dead_letter.replay_count, 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let attempts = h.attempts(id).await;
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    assert_eq!(attempts[0].executions, 1, "the step ran twice");
    assert_eq!(h.db.get_mission(id).await.unwrap().unwrap(), m);
    let row = h.db.get_dead_letter(dead.id).await.unwrap().unwrap();
    assert!(row.replayed_at.is_some());
    assert_eq!(row.replay_count, 2);
    assert_eq!(dead_letters_of(&h, Some(id), 1).await.len(), 1);

    orchestrator.cancel();
    h.finish().await;
}

async fn a_dead_letter_delivered_twice_is_recorded_once_with_the_consumers_error(backend: Backend) {
    let h = Harness::new(backend).await;
    let orchestrator = spawn_orchestrator(&h).await;
    let broker = h.broker().await;
    let mission = Uuid::now_v7();
    let key = format!("{mission}:score:1");
    let task = Message::new(key.clone(), br#"{"not": "a task"}"#.to_vec())
        .with_header("x-rex-mission-id", mission.to_string())
        .with_header("x-rex-step-id", "score")
        .with_header("x-rex-attempt", "1");
    // The same message twice (at-least-once publishing), and a consumer giving up on
    // both copies with its error.
    broker
        .publish(vec![
            (Destination::Agent("echo".into()), task.clone()),
            (Destination::Agent("echo".into()), task),
        ])
        .await
        .unwrap();
    let mut consumer = broker
        .consume(Destination::Agent("echo".into()), 2)
        .await
        .unwrap();
    for _ in 0..2 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .expect("a delivery within 5 s")
            .expect("consumer open");
        delivery
            .dead_letter("unreadable task: missing field `agent`")
            .await
            .unwrap();
    }
    consumer.close().await;

    let rows = dead_letters_of(&h, Some(mission), 1).await;
    assert_eq!(rows[0].message_id, key);
    assert_eq!(rows[0].reason, "rejected");
    assert_eq!(
        rows[0].error.as_deref(),
        Some("unreadable task: missing field `agent`")
    );
    // Both copies were taken off the queue; still one row.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broker.dead_letter_count("echo").await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "dead letters left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead_letters_of(&h, Some(mission), 1).await.len(), 1);
    orchestrator.cancel();
    h.finish().await;
}

fn new_dead_letter(message_id: &str, generation: i32, error: &str) -> NewDeadLetter {
    NewDeadLetter {
        mission_id: Some(Uuid::now_v7()),
        step_id: Some("a".into()),
        attempt: Some(1),
        destination: "echo".into(),
        message_id: message_id.into(),
        payload: json!({"n": 1}),
        headers: BTreeMap::from([("x-rex-step-id".to_owned(), "a".to_owned())]),
        reason: "delivery_limit".into(),
        error: Some(error.into()),
        deaths: 1,
        generation,
        dead_at: rex_store::now(),
    }
}

async fn recording_is_idempotent_and_a_replay_that_dies_again_reopens_its_row(backend: Backend) {
    let h = Harness::new(backend).await;
    let store = h.db.store();
    let first = new_dead_letter("k-1", 0, "first death");
    assert_eq!(
        store.record_dead_letter(first.clone()).await.unwrap(),
        Recorded::New
    );
    assert_eq!(
        store.record_dead_letter(first.clone()).await.unwrap(),
        Recorded::Duplicate
    );
    let rows = dead_letters_of(&h, None, 1).await;
    let row = &rows[0];
    assert_eq!(row.error.as_deref(), Some("first death"));
    assert_eq!(row.headers, json!({"x-rex-step-id": "a"}));

    // Replayed: a late duplicate of the first death changes nothing…
    let replayed = replay(&h.engine, row.id).await.unwrap();
    assert_eq!(replayed.dead_letter.replay_count, 1);
    assert_eq!(
        store.record_dead_letter(first).await.unwrap(),
        Recorded::Duplicate
    );
    assert!(
        store
            .get_dead_letter(row.id)
            .await
            .unwrap()
            .unwrap()
            .replayed_at
            .is_some()
    );
    // …while the replayed copy dying reopens the row.
    let again = new_dead_letter("k-1", 1, "second death");
    assert_eq!(
        store.record_dead_letter(again.clone()).await.unwrap(),
        Recorded::DiedAgain
    );
    assert_eq!(
        store.record_dead_letter(again).await.unwrap(),
        Recorded::Duplicate
    );
    let row = store.get_dead_letter(row.id).await.unwrap().unwrap();
    assert_eq!(row.error.as_deref(), Some("second death"));
    assert_eq!((row.replayed_at, row.replay_count), (None, 1));
    assert_eq!(dead_letters_of(&h, None, 1).await.len(), 1);

    // The replay went out with its number, through the broker the engine has.
    let mut consumer = h
        .broker()
        .await
        .consume(Destination::Agent("echo".into()), 1)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("the replayed message")
        .unwrap();
    assert_eq!(delivery.message.id, "k-1");
    assert_eq!(
        delivery
            .message
            .headers
            .get(REPLAY_HEADER)
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(delivery.message.body, br#"{"n":1}"#);
    delivery.ack().await.unwrap();
    consumer.close().await;
    h.finish().await;
}

async fn replaying_an_unknown_dead_letter_is_an_error_naming_it(backend: Backend) {
    let h = Harness::new(backend).await;
    let id = Uuid::now_v7();
    let err = replay(&h.engine, id).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), format!("dead letter \"{id}\" not found"));
    assert_eq!(h.db.count_outbox().await.unwrap(), 0, "nothing queued");
    h.finish().await;
}

/// A provider event (a webhook the API took) that its consumer rejected lands in the
/// inbox's dead-letter queue; the orchestrator records it like a task and a replay
/// hands the same message back to the inbox.
async fn a_provider_event_the_inbox_gave_up_on_is_recorded_and_replayed_to_the_inbox(
    backend: Backend,
) {
    let h = Harness::new(backend).await;
    let orchestrator = spawn_orchestrator(&h).await;
    let broker = h.broker().await;
    let event = Message::new(
        "sendgrid:ev-9".to_owned(),
        br#"{"tenant":"acme","source":"sendgrid","event_id":"ev-9"}"#.to_vec(),
    );
    broker
        .publish(vec![(Destination::Inbox, event)])
        .await
        .unwrap();
    let mut inbox = broker.consume(Destination::Inbox, 1).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(5), inbox.next())
        .await
        .expect("a delivery within 5 s")
        .expect("consumer open");
    delivery
        .dead_letter("no lead matches the event")
        .await
        .unwrap();

    let rows = dead_letters_of(&h, None, 1).await;
    let dead = &rows[0];
    assert_eq!(dead.destination, "inbox");
    assert_eq!(dead.message_id, "sendgrid:ev-9");
    assert_eq!(dead.mission_id, None);
    assert_eq!(dead.error.as_deref(), Some("no lead matches the event"));
    assert_eq!(dead.payload["event_id"], json!("ev-9"));

    let replayed = replay(&h.engine, dead.id).await.expect("replay");
    assert!(replayed.published);
    let again = tokio::time::timeout(Duration::from_secs(5), inbox.next())
        .await
        .expect("the replayed event within 5 s")
        .expect("consumer open");
    assert_eq!(again.message.id, "sendgrid:ev-9");
    assert_eq!(
        again.message.headers.get(REPLAY_HEADER).map(String::as_str),
        Some("1")
    );
    again.ack().await.unwrap();
    inbox.close().await;
    orchestrator.cancel();
    h.finish().await;
}
