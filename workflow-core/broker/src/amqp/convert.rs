//! Between [`Message`] and AMQP properties. Pure; nothing off the wire is
//! trusted to be well-formed.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::error::BrokerError;
use crate::message::{Death, Message};

/// Set by quorum queues on a redelivered message: the number of earlier returns.
pub(crate) const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";
/// RabbitMQ's death history of a dead-lettered message: an array of tables, the
/// latest death first, each with `reason`, `count`, `queue`, `time`, `exchange`…
const DEATH_HEADER: &str = "x-death";
/// RabbitMQ's summary of the first death, also set by our own dead-lettering copy
/// ([`dead_letter_properties`]), which carries no `x-death`.
const FIRST_DEATH_REASON: &str = "x-first-death-reason";
/// `x-first-death-*` and `x-last-death-*`: broker bookkeeping, not the sender's headers.
fn is_death_bookkeeping(name: &str) -> bool {
    name.starts_with("x-first-death-") || name.starts_with("x-last-death-")
}

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

/// The properties of the copy [`crate::Delivery::dead_letter`] publishes to the
/// dead-letter exchange: the original's, plus the error and the reason a consumer's
/// rejection would have had.
pub(crate) fn dead_letter_properties(
    message: &Message,
    error: &str,
) -> Result<BasicProperties, BrokerError> {
    let mut copy = message.clone();
    copy.headers
        .insert(crate::message::ERROR_HEADER.to_owned(), error.to_owned());
    copy.headers
        .insert(FIRST_DEATH_REASON.to_owned(), "rejected".to_owned());
    properties(&copy)
}

/// What a consumer makes of a delivery.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) message: Message,
    /// 1 on the first delivery, 2 on the first redelivery, …
    pub(crate) delivery_count: u32,
    /// Set on a dead-lettered message (one read from a dead-letter queue).
    pub(crate) death: Option<Death>,
}

/// `Err` names why the delivery cannot be a task (it is then dead-lettered).
pub(crate) fn incoming(
    properties: &BasicProperties,
    body: Vec<u8>,
    redelivered: bool,
) -> Result<Incoming, String> {
    let id = match properties.message_id() {
        Some(id) if !id.as_str().is_empty() => id.as_str().to_owned(),
        _ => return Err("it has no message_id (idempotency key)".into()),
    };
    let mut headers = BTreeMap::new();
    let mut returns = None;
    let mut death = None;
    let mut first_death_reason = None;
    if let Some(table) = properties.headers() {
        for (name, value) in table.inner() {
            let name = name.as_str();
            if name == DELIVERY_COUNT_HEADER {
                returns = integer(value);
            } else if name == DEATH_HEADER {
                death = latest_death(value);
            } else if is_death_bookkeeping(name) {
                if name == FIRST_DEATH_REASON {
                    first_death_reason = text(value);
                }
            } else if let Some(text) = text(value) {
                headers.insert(name.to_owned(), text);
            }
        }
    }
    let death = death.or_else(|| first_death_reason.map(|reason| Death { reason, count: 1 }));
    let returns = match returns {
        Some(n) => u32::try_from(n.max(0)).unwrap_or(u32::MAX),
        None => u32::from(redelivered),
    };
    Ok(Incoming {
        message: Message { id, headers, body },
        delivery_count: returns.saturating_add(1),
        death,
    })
}

/// The latest entry of `x-death` (RabbitMQ puts it first). Anything malformed is
/// skipped, never trusted: `None` when no entry has a reason.
fn latest_death(value: &AMQPValue) -> Option<Death> {
    let AMQPValue::FieldArray(entries) = value else {
        return None;
    };
    entries.as_slice().iter().find_map(|entry| {
        let AMQPValue::FieldTable(table) = entry else {
            return None;
        };
        let fields = table.inner();
        let reason = fields.get("reason").and_then(text)?;
        let count = fields
            .get("count")
            .and_then(integer)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1);
        Some(Death { reason, count })
    })
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
        let back = incoming(&props, b"{}".to_vec(), false).unwrap();
        assert_eq!(back.message, message);
        assert_eq!(back.delivery_count, 1);
        assert_eq!(back.death, None);
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
        let Incoming {
            message,
            delivery_count: count,
            ..
        } = incoming(&props, Vec::new(), true).unwrap();
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
        assert_eq!(
            incoming(&props, Vec::new(), true).unwrap().delivery_count,
            2
        );
    }

    fn death(reason: &str, count: i64) -> AMQPValue {
        let mut entry = FieldTable::default();
        entry.insert("reason".into(), AMQPValue::LongString(reason.into()));
        entry.insert("count".into(), AMQPValue::LongLongInt(count));
        entry.insert("queue".into(), AMQPValue::LongString("rex.agent.a".into()));
        AMQPValue::FieldTable(entry)
    }

    #[test]
    fn the_latest_x_death_entry_is_the_reason_and_bookkeeping_is_dropped() {
        let mut headers = FieldTable::default();
        headers.insert(
            DEATH_HEADER.into(),
            AMQPValue::FieldArray(vec![death("delivery_limit", 2), death("rejected", 1)].into()),
        );
        headers.insert(
            FIRST_DEATH_REASON.into(),
            AMQPValue::LongString("rejected".into()),
        );
        headers.insert(
            "x-first-death-queue".into(),
            AMQPValue::LongString("q".into()),
        );
        headers.insert("x-rex-step-id".into(), AMQPValue::LongString("s".into()));
        let props = BasicProperties::default()
            .with_message_id("t".into())
            .with_headers(headers);
        let got = incoming(&props, Vec::new(), false).unwrap();
        assert_eq!(
            got.death,
            Some(Death {
                reason: "delivery_limit".into(),
                count: 2
            })
        );
        assert_eq!(
            got.message.headers.keys().collect::<Vec<_>>(),
            ["x-rex-step-id"]
        );
    }

    #[test]
    fn a_malformed_x_death_falls_back_to_the_first_death_reason() {
        let mut headers = FieldTable::default();
        headers.insert(DEATH_HEADER.into(), AMQPValue::LongString("junk".into()));
        headers.insert(
            FIRST_DEATH_REASON.into(),
            AMQPValue::LongString("expired".into()),
        );
        let props = BasicProperties::default()
            .with_message_id("t".into())
            .with_headers(headers);
        let got = incoming(&props, Vec::new(), false).unwrap();
        assert_eq!(got.death.map(|d| d.reason).as_deref(), Some("expired"));
    }

    #[test]
    fn the_dead_letter_copy_carries_the_error_and_reads_back_as_rejected() {
        let message = Message::new("t", b"{}".to_vec()).with_header("a", "1");
        let props = dead_letter_properties(&message, "boom").unwrap();
        let got = incoming(&props, b"{}".to_vec(), false).unwrap();
        assert_eq!(got.death.map(|d| d.reason).as_deref(), Some("rejected"));
        assert_eq!(
            got.message
                .headers
                .get(crate::message::ERROR_HEADER)
                .map(String::as_str),
            Some("boom")
        );
    }

    #[test]
    fn a_delivery_without_a_message_id_is_refused() {
        let err = incoming(&BasicProperties::default(), Vec::new(), false).unwrap_err();
        assert!(err.contains("message_id"));
    }
}
