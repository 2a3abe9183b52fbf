//! Declares the RabbitMQ topology (see [`crate::topology`]). Every declaration
//! is idempotent, so it runs at start-up, before each consume, and again after
//! every reconnect.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::message::Destination;
use crate::topology::{Names, routing_key};

/// The arguments of a work queue (an agent's queue or the results queue).
///
/// At-least-once dead-lettering (with `reject-publish` overflow, which it
/// requires) keeps a poison message in its queue until the DLQ has confirmed
/// it, instead of RabbitMQ's default at-most-once hand-over.
pub(crate) fn work_queue_arguments(
    names: &Names,
    destination: &Destination,
    delivery_limit: u32,
) -> FieldTable {
    let mut args = FieldTable::default();
    let text = |s: &str| AMQPValue::LongString(LongString::from(s.as_bytes()));
    args.insert("x-queue-type".into(), text("quorum"));
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(delivery_limit)),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        text(&names.dead_letter_exchange()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        text(&routing_key(destination)),
    );
    args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
    args.insert("x-overflow".into(), text("reject-publish"));
    args
}

fn dead_letter_queue_arguments() -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from(&b"quorum"[..])),
    );
    args
}

/// Names are validated ([`Names::new`], `validate_destination`) to fit in a
/// short string; `try_new` keeps a slip from becoming a panic.
fn short(name: String) -> Result<ShortString, lapin::Error> {
    ShortString::try_new(name).map_err(|err| {
        lapin::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidInput, err))
    })
}

/// Both exchanges, then per destination its DLQ and its work queue, each bound.
pub(crate) async fn declare(
    channel: &Channel,
    names: &Names,
    delivery_limit: u32,
    destinations: &[Destination],
) -> Result<(), lapin::Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in [names.exchange(), names.dead_letter_exchange()] {
        channel
            .exchange_declare(
                short(exchange)?,
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
    }
    for destination in destinations {
        let key = short(routing_key(destination))?;
        let dlq = short(names.dead_letter_queue(destination))?;
        channel
            .queue_declare(
                dlq.clone(),
                QueueDeclareOptions::durable(),
                dead_letter_queue_arguments(),
            )
            .await?;
        channel
            .queue_bind(
                dlq,
                short(names.dead_letter_exchange())?,
                key.clone(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let queue = short(names.queue(destination))?;
        channel
            .queue_declare(
                queue.clone(),
                QueueDeclareOptions::durable(),
                work_queue_arguments(names, destination, delivery_limit),
            )
            .await?;
        channel
            .queue_bind(
                queue,
                short(names.exchange())?,
                key,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
