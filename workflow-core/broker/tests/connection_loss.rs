//! RabbitMQ only: a connection closed by the server (as on a broker restart
//! or a network cut) is survived by consumers and publishers alike.

mod support;

use std::time::Duration;

use rex_broker::{Broker, BrokerError, Message};
use support::{agent, agents, delete_topology, kill_connection_of, next, next_within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_and_publisher_carry_on_after_the_connection_is_killed() {
    let (broker, prefix) = support::rabbitmq().await;
    let outcome = tokio::time::timeout(Duration::from_secs(30), {
        let broker = broker.clone();
        let prefix = prefix.clone();
        tokio::spawn(async move { survive_connection_loss(broker, &prefix).await })
    })
    .await;
    broker.shutdown().await;
    delete_topology(&prefix).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => panic!("did not recover within 30 s"),
    }
}

async fn survive_connection_loss(broker: rex_broker::AmqpBroker, prefix: &str) {
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

    kill_connection_of(prefix);

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
    assert_eq!(got, [("after".to_string(), false), ("before-2".to_string(), true)]);
    assert!(next_within(&mut consumer, Duration::from_millis(300)).await.is_none());
}
