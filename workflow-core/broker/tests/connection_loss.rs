//! RabbitMQ only: a connection closed by the server (`rabbitmqctl
//! close_connection`, as on a broker restart) or cut on the network (a proxy
//! drops it) is survived by consumers and publishers alike, and nothing that
//! was confirmed is lost.

mod support;

/// The crate's reconnect logs, shown when a test fails.
fn log_to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rex_broker=debug,lapin=warn")
        .with_test_writer()
        .try_init();
}

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rex_broker::{AmqpBroker, Broker, BrokerError, Message};
use support::{
    Proxy, agent, agents, delete_topology, guarded, kill_connection_of, next, next_within,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_and_publisher_carry_on_after_the_server_closes_the_connection() {
    log_to_test_output();
    let (broker, prefix) = support::rabbitmq().await;
    let case = survive_forced_close(broker.clone(), prefix.clone());
    guarded(case, async move {
        broker.shutdown().await;
        delete_topology(&prefix).await;
    })
    .await;
}

async fn survive_forced_close(broker: AmqpBroker, prefix: String) {
    broker.declare(&agents()).await.unwrap();
    let mut consumer = broker.consume(agent("alpha"), 5).await.unwrap();
    broker
        .publish(vec![
            (agent("alpha"), Message::new("before-1", b"1".to_vec())),
            (agent("alpha"), Message::new("before-2", b"2".to_vec())),
        ])
        .await
        .unwrap();
    let acked = next(&mut consumer).await;
    assert_eq!(acked.message.id, "before-1");
    acked.ack().await.unwrap();
    let unacked = next(&mut consumer).await;
    assert_eq!(unacked.message.id, "before-2");

    kill_connection_of(&prefix).await;

    // The delivery held across the loss cannot be acked any more…
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = unacked.ack().await.unwrap_err();
    assert!(matches!(err, BrokerError::DeliveryStale { .. }), "{err}");

    // …publishing reconnects by itself…
    broker
        .publish(vec![(agent("alpha"), Message::new("after", b"3".to_vec()))])
        .await
        .expect("publish after the connection loss");

    // …and the consumer resumes: the lost delivery comes back, then the new one.
    let mut got = Vec::new();
    while got.len() < 2 {
        let delivery = next_within(&mut consumer, Duration::from_secs(10))
            .await
            .expect("consumer did not resume after the connection loss");
        got.push((delivery.message.id.clone(), delivery.redelivered));
        delivery.ack().await.unwrap();
    }
    got.sort();
    assert_eq!(
        got,
        [("after".to_string(), false), ("before-2".to_string(), true)]
    );
    assert!(
        next_within(&mut consumer, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_confirmed_is_lost_when_the_network_drops_under_load() {
    log_to_test_output();
    let proxy = Proxy::start().await;
    let (broker, prefix) = support::rabbitmq_at(proxy.url.clone()).await;
    let case = publish_and_consume_through_a_cut(broker.clone(), proxy);
    guarded(case, async move {
        broker.shutdown().await;
        delete_topology(&prefix).await;
    })
    .await;
}

async fn publish_and_consume_through_a_cut(broker: AmqpBroker, proxy: Proxy) {
    broker.declare(&agents()).await.unwrap();

    // A consumer that runs across the cut; acks lost with the connection are
    // fine (those messages come again), so only ids are recorded.
    let received: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut consumer = broker.consume(agent("beta"), 200).await.unwrap();
    let consuming = tokio::spawn({
        let received = received.clone();
        async move {
            while let Some(delivery) = consumer.next().await {
                received.lock().unwrap().insert(delivery.message.id.clone());
                let _ = delivery.ack().await;
            }
        }
    });

    // Batches back to back, so that the cut lands while confirms are
    // outstanding; every batch must end confirmed.
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = tokio::spawn({
        let broker = broker.clone();
        let stop = stop.clone();
        async move {
            let mut confirmed = BTreeSet::new();
            let mut batch_no = 0;
            while !stop.load(Ordering::SeqCst) {
                let ids: Vec<String> = (0..100).map(|i| format!("b{batch_no}-m{i}")).collect();
                let batch = ids
                    .iter()
                    .map(|id| (agent("beta"), Message::new(id.clone(), b"x".to_vec())))
                    .collect();
                broker
                    .publish(batch)
                    .await
                    .expect("a batch was not confirmed");
                confirmed.extend(ids);
                batch_no += 1;
            }
            confirmed
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::SeqCst);
    let confirmed = publishing.await.unwrap();
    assert!(confirmed.len() >= 500, "too few batches to mean anything");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let missing: Vec<String> = {
            let received = received.lock().unwrap();
            confirmed.difference(&received).take(5).cloned().collect()
        };
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    consuming.abort();
    assert!(
        missing.is_empty(),
        "confirmed but never delivered: {missing:?}…"
    );
}
