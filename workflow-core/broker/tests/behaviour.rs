//! One behaviour suite, run against both backends: each case is written once
//! over `Arc<dyn Broker>` and instantiated for the in-process broker and for
//! RabbitMQ (on its own random prefix, so the cases run in parallel).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rex_broker::{Broker, BrokerError, DeadLetter, Destination, Message, QueueStats};
use support::{DELIVERY_LIMIT, UNDECLARED, agent, agents, eventually, next, next_within};

/// Long enough for a wrongly sent message to show up.
const QUIET: Duration = Duration::from_millis(400);

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::support::run_memory(super::$case).await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::support::run_rabbitmq(super::$case).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_published_message_is_consumed_and_acked_away,
    headers_id_and_body_round_trip,
    a_batch_of_500_is_confirmed_and_consumed,
    a_requeued_message_comes_back_marked_redelivered,
    a_closed_consumer_hands_its_unacked_messages_to_another,
    a_dropped_consumer_hands_its_unacked_messages_to_another,
    prefetch_bounds_the_unacked_deliveries,
    a_message_past_the_delivery_limit_is_dead_lettered,
    a_message_nacked_without_requeue_is_dead_lettered,
    publishing_to_an_undeclared_agent_is_an_error,
    publishing_before_any_declaration_is_an_error,
    queue_stats_report_ready_messages_and_consumers,
    consumers_of_one_queue_share_it,
    results_flow_through_their_own_queue,
    shutdown_ends_consumers,
    a_message_past_the_delivery_limit_is_read_back_as_a_dead_letter,
    a_consumer_giving_up_with_an_error_dead_letters_it_with_that_error,
    a_plain_nack_is_a_rejected_dead_letter_without_error,
    an_unsettled_dead_letter_stays_in_its_queue,
    dead_results_are_read_from_their_own_queue,
    inbox_events_flow_through_their_own_queue,
    a_poison_inbox_event_is_read_back_from_the_inbox_dead_letters,
);

fn task(id: &str) -> Message {
    Message::new(id, format!("body of {id}").into_bytes())
}

async fn stats(b: &Arc<dyn Broker>, source: &Destination) -> QueueStats {
    b.queue_stats(source).await.expect("queue_stats")
}

async fn ready(b: &Arc<dyn Broker>, source: &Destination) -> u64 {
    stats(b, source).await.ready
}

async fn dead_letters(b: &Arc<dyn Broker>, name: &str) -> u64 {
    b.dead_letter_count(name).await.expect("dead_letter_count")
}

async fn a_published_message_is_consumed_and_acked_away(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("t-1"))])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 10).await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message.id, "t-1");
    assert!(!delivery.redelivered);
    assert_eq!(delivery.delivery_count, 1);
    delivery.ack().await.unwrap();
    consumer.close().await;

    // Acked means gone: a fresh consumer gets nothing.
    let mut consumer = b.consume(agent("alpha"), 10).await.unwrap();
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    assert_eq!(ready(&b, &agent("alpha")).await, 0);
    assert_eq!(dead_letters(&b, "alpha").await, 0);
}

async fn headers_id_and_body_round_trip(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let sent = Message::new(
        "mission-7/step-enrich/attempt-2",
        vec![0, 159, 146, 150, 255],
    )
    .with_header(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .with_header("tracestate", "rex=1")
    .with_header("mission", "mission-7")
    .with_header("attempt", "2")
    .with_header("note", "ünïcödé ✓");
    b.publish(vec![(agent("beta"), sent.clone())])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("beta"), 1).await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, sent);
    delivery.ack().await.unwrap();
}

async fn a_batch_of_500_is_confirmed_and_consumed(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let batch: Vec<_> = (0..500)
        .map(|i| (agent("alpha"), task(&format!("t-{i}"))))
        .collect();
    let started = std::time::Instant::now();
    b.publish(batch).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "500 confirms took {:?}: not pipelined",
        started.elapsed()
    );
    let alpha = agent("alpha");
    eventually("ready after publish", 500, || ready(&b, &alpha)).await;

    let mut consumer = b.consume(agent("alpha"), 100).await.unwrap();
    let mut seen = BTreeSet::new();
    while seen.len() < 500 {
        let delivery = next(&mut consumer).await;
        assert!(
            seen.insert(delivery.message.id.clone()),
            "duplicate {}",
            delivery.message.id
        );
        delivery.ack().await.unwrap();
    }
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    assert_eq!(ready(&b, &agent("alpha")).await, 0);
}

async fn a_requeued_message_comes_back_marked_redelivered(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("t-1"))])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    let first = next(&mut consumer).await;
    assert!(!first.redelivered);
    first.nack(true).await.unwrap();

    let again = next(&mut consumer).await;
    assert_eq!(again.message, task("t-1"));
    assert!(again.redelivered);
    assert_eq!(again.delivery_count, 2);
    again.ack().await.unwrap();
    assert!(next_within(&mut consumer, QUIET).await.is_none());
}

async fn hands_back_unacked(b: Arc<dyn Broker>, close: bool) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![
        (agent("alpha"), task("t-1")),
        (agent("alpha"), task("t-2")),
    ])
    .await
    .unwrap();
    let mut first = b.consume(agent("alpha"), 10).await.unwrap();
    let held = next(&mut first).await;
    let _also_held = next(&mut first).await;
    if close {
        first.close().await;
        // Its deliveries can no longer be settled from the closed consumer.
        let err = held.ack().await.unwrap_err();
        assert!(matches!(err, BrokerError::DeliveryStale { .. }), "{err}");
    } else {
        drop(first);
    }

    let mut second = b.consume(agent("alpha"), 10).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut second).await;
        assert!(
            delivery.redelivered,
            "{} not marked redelivered",
            delivery.message.id
        );
        assert_eq!(delivery.delivery_count, 2);
        ids.push(delivery.message.id.clone());
        delivery.ack().await.unwrap();
    }
    ids.sort();
    assert_eq!(ids, ["t-1", "t-2"]);
}

async fn a_closed_consumer_hands_its_unacked_messages_to_another(b: Arc<dyn Broker>) {
    hands_back_unacked(b, true).await;
}

async fn a_dropped_consumer_hands_its_unacked_messages_to_another(b: Arc<dyn Broker>) {
    hands_back_unacked(b, false).await;
}

async fn prefetch_bounds_the_unacked_deliveries(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let batch = (1..=5)
        .map(|i| (agent("alpha"), task(&format!("t-{i}"))))
        .collect();
    b.publish(batch).await.unwrap();
    let mut consumer = b.consume(agent("alpha"), 2).await.unwrap();
    let first = next(&mut consumer).await;
    let _second = next(&mut consumer).await;
    assert!(
        next_within(&mut consumer, QUIET).await.is_none(),
        "a third delivery arrived with prefetch 2"
    );
    let alpha = agent("alpha");
    eventually("ready with 2 in flight", 3, || ready(&b, &alpha)).await;

    first.ack().await.unwrap();
    let third = next(&mut consumer).await;
    assert_eq!(third.message.id, "t-3");
    assert!(next_within(&mut consumer, QUIET).await.is_none());
}

async fn a_message_past_the_delivery_limit_is_dead_lettered(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("poison"))])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    let mut counts = Vec::new();
    while let Some(delivery) = next_within(&mut consumer, Duration::from_secs(1)).await {
        counts.push(delivery.delivery_count);
        delivery.nack(true).await.unwrap();
        assert!(counts.len() <= 10, "never dead-lettered: {counts:?}");
    }
    // RabbitMQ 3.10 quorum queues: delivered once, then once per allowed
    // return; the return past `x-delivery-limit` dead-letters it.
    let expected: Vec<u32> = (1..=DELIVERY_LIMIT + 1).collect();
    assert_eq!(counts, expected);
    eventually("dead letters", 1, || dead_letters(&b, "alpha")).await;
    assert_eq!(ready(&b, &agent("alpha")).await, 0);
}

async fn a_message_nacked_without_requeue_is_dead_lettered(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("beta"), task("bad"))]).await.unwrap();
    let mut consumer = b.consume(agent("beta"), 1).await.unwrap();
    next(&mut consumer).await.nack(false).await.unwrap();
    eventually("dead letters", 1, || dead_letters(&b, "beta")).await;
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    assert_eq!(dead_letters(&b, "alpha").await, 0);
}

async fn publishing_to_an_undeclared_agent_is_an_error(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let err = b
        .publish(vec![(agent(UNDECLARED), task("lost"))])
        .await
        .unwrap_err();
    match &err {
        BrokerError::Unroutable { destination, id } => {
            assert_eq!(destination, &agent(UNDECLARED));
            assert_eq!(id, "lost");
        }
        other => panic!("expected Unroutable, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(UNDECLARED), "{err}");
    // The broker handle stays usable.
    b.publish(vec![(agent("alpha"), task("fine"))])
        .await
        .unwrap();
}

async fn publishing_before_any_declaration_is_an_error(b: Arc<dyn Broker>) {
    // No exchange yet on RabbitMQ (the broker refuses), no queue in memory
    // (unroutable): either way an error that retrying will not cure.
    let err = b
        .publish(vec![(agent("alpha"), task("early"))])
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    // Declaring fixes it.
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("early"))])
        .await
        .unwrap();
}

async fn queue_stats_report_ready_messages_and_consumers(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let alpha = agent("alpha");
    assert_eq!(
        stats(&b, &alpha).await,
        QueueStats {
            ready: 0,
            consumers: 0
        }
    );
    let batch = (1..=3)
        .map(|i| (alpha.clone(), task(&format!("t-{i}"))))
        .collect();
    b.publish(batch).await.unwrap();
    eventually("ready", 3, || ready(&b, &alpha)).await;

    let mut consumer = b.consume(alpha.clone(), 1).await.unwrap();
    let _held = next(&mut consumer).await;
    eventually(
        "stats with one consumer",
        QueueStats {
            ready: 2,
            consumers: 1,
        },
        || stats(&b, &alpha),
    )
    .await;
    consumer.close().await;
    eventually(
        "stats after close",
        QueueStats {
            ready: 3,
            consumers: 0,
        },
        || stats(&b, &alpha),
    )
    .await;
    let err = b.queue_stats(&agent(UNDECLARED)).await.unwrap_err();
    assert!(matches!(err, BrokerError::QueueNotFound { .. }), "{err}");
}

async fn consumers_of_one_queue_share_it(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let mut one = b.consume(agent("beta"), 1).await.unwrap();
    let mut two = b.consume(agent("beta"), 1).await.unwrap();
    b.publish(vec![
        (agent("beta"), task("t-1")),
        (agent("beta"), task("t-2")),
    ])
    .await
    .unwrap();
    let a = next(&mut one).await;
    let b2 = next(&mut two).await;
    let mut ids = [a.message.id.clone(), b2.message.id.clone()];
    ids.sort();
    assert_eq!(ids, ["t-1", "t-2"]);
    a.ack().await.unwrap();
    b2.ack().await.unwrap();
}

async fn results_flow_through_their_own_queue(b: Arc<dyn Broker>) {
    b.declare(&[]).await.unwrap();
    let result = Message::new("result-1", b"{\"ok\":true}".to_vec()).with_header("step", "score");
    b.publish(vec![(Destination::Results, result.clone())])
        .await
        .unwrap();
    let mut consumer = b.consume(Destination::Results, 10).await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, result);
    delivery.ack().await.unwrap();
    eventually("results ready", 0, || ready(&b, &Destination::Results)).await;
}

async fn shutdown_ends_consumers(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    b.shutdown().await;
    let ended = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await;
    assert!(
        matches!(ended, Ok(None)),
        "next() after shutdown: {ended:?}"
    );
    let err = b
        .publish(vec![(agent("alpha"), task("late"))])
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Closed), "{err}");
}

/// The next dead letter of `source`, or a failure after 5 s.
async fn next_dead(
    b: &Arc<dyn Broker>,
    source: Destination,
) -> (rex_broker::DeadLetters, DeadLetter) {
    let mut dead = b.consume_dead_letters(source, 10).await.unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(5), dead.next())
        .await
        .expect("no dead letter within 5 s")
        .expect("dead-letter consumer ended");
    (dead, letter)
}

async fn a_message_past_the_delivery_limit_is_read_back_as_a_dead_letter(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let sent = task("poison").with_header("x-rex-step-id", "score");
    b.publish(vec![(agent("alpha"), sent.clone())])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    while let Some(delivery) = next_within(&mut consumer, Duration::from_secs(1)).await {
        delivery.nack(true).await.unwrap();
    }
    let (mut dead, letter) = next_dead(&b, agent("alpha")).await;
    assert_eq!(letter.message, sent, "id, headers and body as published");
    assert_eq!(letter.source, agent("alpha"));
    assert_eq!(letter.reason, "delivery_limit");
    assert_eq!(letter.error, None);
    assert_eq!(letter.deaths, 1);
    letter.ack().await.unwrap();
    eventually("dead letters after ack", 0, || dead_letters(&b, "alpha")).await;
    assert!(
        tokio::time::timeout(QUIET, dead.next()).await.is_err(),
        "an acked dead letter came back"
    );
}

async fn a_consumer_giving_up_with_an_error_dead_letters_it_with_that_error(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("beta"), task("bad"))]).await.unwrap();
    let mut consumer = b.consume(agent("beta"), 1).await.unwrap();
    next(&mut consumer)
        .await
        .dead_letter("task body is not JSON: expected value at line 1")
        .await
        .unwrap();
    assert!(next_within(&mut consumer, QUIET).await.is_none());
    let (_dead, letter) = next_dead(&b, agent("beta")).await;
    assert_eq!(
        letter.message,
        task("bad"),
        "the error is not left among the headers"
    );
    assert_eq!(letter.reason, "rejected");
    assert_eq!(
        letter.error.as_deref(),
        Some("task body is not JSON: expected value at line 1")
    );
    letter.ack().await.unwrap();
    eventually("dead letters after ack", 0, || dead_letters(&b, "beta")).await;
}

async fn a_plain_nack_is_a_rejected_dead_letter_without_error(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("t-1"))])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    next(&mut consumer).await.nack(false).await.unwrap();
    let (_dead, letter) = next_dead(&b, agent("alpha")).await;
    assert_eq!(letter.message.id, "t-1");
    assert_eq!(letter.reason, "rejected");
    assert_eq!(letter.error, None);
    letter.ack().await.unwrap();
}

async fn an_unsettled_dead_letter_stays_in_its_queue(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    b.publish(vec![(agent("alpha"), task("t-1"))])
        .await
        .unwrap();
    let mut consumer = b.consume(agent("alpha"), 1).await.unwrap();
    next(&mut consumer).await.nack(false).await.unwrap();

    // Handed back on purpose, then lost with its consumer: still there both times.
    let (dead, letter) = next_dead(&b, agent("alpha")).await;
    letter.nack(true).await.unwrap();
    dead.close().await;
    let (dead, _unsettled) = next_dead(&b, agent("alpha")).await;
    dead.close().await;
    eventually("dead letters kept", 1, || dead_letters(&b, "alpha")).await;
    let (_dead, letter) = next_dead(&b, agent("alpha")).await;
    assert_eq!(letter.message.id, "t-1");
    letter.ack().await.unwrap();
}

async fn dead_results_are_read_from_their_own_queue(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let result = Message::new("r-1", b"not a result".to_vec());
    b.publish(vec![(Destination::Results, result.clone())])
        .await
        .unwrap();
    let mut consumer = b.consume(Destination::Results, 1).await.unwrap();
    next(&mut consumer)
        .await
        .dead_letter("unreadable")
        .await
        .unwrap();
    let (_dead, letter) = next_dead(&b, Destination::Results).await;
    assert_eq!(letter.message, result);
    assert_eq!(letter.source, Destination::Results);
    assert_eq!(letter.error.as_deref(), Some("unreadable"));
    letter.ack().await.unwrap();
    assert_eq!(dead_letters(&b, "alpha").await, 0);
}

async fn inbox_events_flow_through_their_own_queue(b: Arc<dyn Broker>) {
    // The inbox is part of the declared topology, even with no agents.
    b.declare(&[]).await.unwrap();
    let event = Message::new("sendgrid:ev-1", b"{\"source\":\"sendgrid\"}".to_vec())
        .with_header("tenant", "acme");
    b.publish(vec![(Destination::Inbox, event.clone())])
        .await
        .unwrap();
    assert_eq!(ready(&b, &Destination::Inbox).await, 1);
    assert_eq!(ready(&b, &Destination::Results).await, 0);
    let mut consumer = b.consume(Destination::Inbox, 10).await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, event);
    delivery.ack().await.unwrap();
    eventually("inbox ready", 0, || ready(&b, &Destination::Inbox)).await;
    assert!(
        next_within(&mut consumer, QUIET).await.is_none(),
        "an acked event came back"
    );
}

async fn a_poison_inbox_event_is_read_back_from_the_inbox_dead_letters(b: Arc<dyn Broker>) {
    b.declare(&agents()).await.unwrap();
    let event = Message::new("twilio:SM1", b"not an envelope".to_vec());
    b.publish(vec![(Destination::Inbox, event.clone())])
        .await
        .unwrap();
    let mut consumer = b.consume(Destination::Inbox, 1).await.unwrap();
    next(&mut consumer)
        .await
        .dead_letter("unreadable envelope")
        .await
        .unwrap();
    let (_dead, letter) = next_dead(&b, Destination::Inbox).await;
    assert_eq!(letter.message, event);
    assert_eq!(letter.source, Destination::Inbox);
    assert_eq!(letter.error.as_deref(), Some("unreadable envelope"));
    letter.ack().await.unwrap();
    assert_eq!(dead_letters(&b, "alpha").await, 0);
}
