//! Between [`Message`] and AMQP properties. Pure; nothing off the wire is
//! trusted to be well-formed.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::error::BrokerError;
use crate::message::Message;

/// Set by quorum queues on a redelivered message: the number of earlier returns.
pub(crate) const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

const PERSISTENT: u8 = 2;

/// Persistent, with the id as `message_id` and the headers as long strings.
/// The message must have been validated ([`Message::validate`]).
pub(crate) fn properties(message: &Message) -> Result<BasicProperties, BrokerError> {
    let short = |value: &str| {
        ShortString::try_new(value).map_err(|err| BrokerError::InvalidMessage {
            id: message.id.clone(),
            reason: err.to_string(),
        })
    };
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        headers.insert(
            short(name)?,
            AMQPValue::LongString(LongString::from(value.as_bytes())),
        );
    }
    Ok(BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_message_id(short(&message.id)?)
        .with_headers(headers))
}

/// What a consumer makes of a delivery: the message and its delivery count.
/// `Err` names why the delivery cannot be a task (it is then dead-lettered).
pub(crate) fn incoming(
    properties: &BasicProperties,
    body: Vec<u8>,
    redelivered: bool,
) -> Result<(Message, u32), String> {
    let id = match properties.message_id() {
        Some(id) if !id.as_str().is_empty() => id.as_str().to_owned(),
        _ => return Err("it has no message_id (idempotency key)".into()),
    };
    let mut headers = BTreeMap::new();
    let mut returns = None;
    if let Some(table) = properties.headers() {
        for (name, value) in table.inner() {
            if name.as_str() == DELIVERY_COUNT_HEADER {
                returns = integer(value);
            } else if let Some(text) = text(value) {
                headers.insert(name.as_str().to_owned(), text);
            }
        }
    }
    let returns = match returns {
        Some(n) => u32::try_from(n.max(0)).unwrap_or(u32::MAX),
        None => u32::from(redelivered),
    };
    let message = Message { id, headers, body };
    Ok((message, returns.saturating_add(1)))
}

fn integer(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::Timestamp(n) => i64::try_from(*n).ok()?,
        _ => return None,
    })
}

/// Scalars become text; tables, arrays and bytes (e.g. RabbitMQ's `x-death`)
/// are not ours and are left out.
fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        AMQPValue::Float(f) => Some(f.to_string()),
        AMQPValue::Double(f) => Some(f.to_string()),
        other => integer(other).map(|n| n.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips_through_amqp_properties() {
        let message = Message::new("task-1", b"{}".to_vec())
            .with_header("traceparent", "00-abc-def-01")
            .with_header("mission", "m-7");
        let props = properties(&message).unwrap();
        assert_eq!(props.delivery_mode(), &Some(PERSISTENT));
        let (back, count) = incoming(&props, b"{}".to_vec(), false).unwrap();
        assert_eq!(back, message);
        assert_eq!(count, 1);
    }

    #[test]
    fn the_quorum_delivery_count_header_becomes_the_delivery_count() {
        let mut headers = FieldTable::default();
        headers.insert(DELIVERY_COUNT_HEADER.into(), AMQPValue::LongLongInt(2));
        headers.insert("attempt".into(), AMQPValue::LongInt(3));
        headers.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        let props = BasicProperties::default()
            .with_message_id("t".into())
            .with_headers(headers);
        let (message, count) = incoming(&props, Vec::new(), true).unwrap();
        assert_eq!(count, 3);
        assert_eq!(
            message.headers.get("attempt").map(String::as_str),
            Some("3")
        );
        assert!(!message.headers.contains_key(DELIVERY_COUNT_HEADER));
        assert!(!message.headers.contains_key("x-death"));
    }

    #[test]
    fn a_redelivery_without_the_header_counts_as_the_second() {
        let props = BasicProperties::default().with_message_id("t".into());
        assert_eq!(incoming(&props, Vec::new(), true).unwrap().1, 2);
    }

    #[test]
    fn a_delivery_without_a_message_id_is_refused() {
        let err = incoming(&BasicProperties::default(), Vec::new(), false).unwrap_err();
        assert!(err.contains("message_id"));
    }
}
