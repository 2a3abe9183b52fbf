//! Dead letters: tasks (and results) the broker gave up on, made visible and replayable.
//!
//! A task returned more often than the delivery limit allows (its worker kept crashing
//! or handing it back), or rejected by a consumer, lands in its agent's dead-letter
//! queue. Nothing acts on it there and its mission waits, so the orchestrator's
//! [`run`] loop moves each one into the `dead_letters` table: record first, then ack,
//! so a crash in between only means a second delivery, which the table ignores (one row
//! per message id). An operator lists them (`rex dead-letters list`) and [`replay`]s
//! one: the original task goes back out through the outbox, in the same transaction
//! that marks the row replayed. Replaying is safe: the task keeps its idempotency key,
//! so a worker answers an attempt that already finished from its checkpoint, and a
//! task of a mission that has ended is a no-op.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rex_broker::{DeadLetter, Destination, Message};
use rex_core::protocol::{HEADER_ATTEMPT, HEADER_MISSION, HEADER_STEP};
use rex_observability::metrics;
use rex_store::entity::{dead_letters, outbox};
use rex_store::{NewDeadLetter, NewOutbox, Recorded, StoreError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use uuid::Uuid;

use crate::publish::Outgoing;
use crate::{Engine, EngineError};

/// The header a replayed task carries: which replay of its dead letter it is (1, 2, …).
/// A copy that dies carries it into the dead-letter queue, which tells a replay that
/// died again from a late duplicate of the first death.
pub const REPLAY_HEADER: &str = "x-rex-replay";

/// Unsettled dead letters per queue held by this orchestrator.
const PREFETCH: u16 = 32;
/// Longest wait before consuming a dead-letter queue again after the broker failed.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Drains the dead-letter queues of `agents`, of the results and of the inbox (provider
/// events) into the table until `shutdown`. A broker that keeps no dead letters (a test double) ends the loop
/// quietly; a broker outage is waited out.
pub async fn run(engine: Engine, agents: Vec<String>, shutdown: CancellationToken) {
    let sources = agents
        .into_iter()
        .map(Destination::Agent)
        .chain([Destination::Results, Destination::Inbox]);
    let drains = sources.map(|source| drain(engine.clone(), source, shutdown.clone()));
    futures::future::join_all(drains).await;
}

async fn drain(engine: Engine, source: Destination, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let consuming = tokio::select! {
            _ = shutdown.cancelled() => return,
            consuming = engine.broker.consume_dead_letters(source.clone(), PREFETCH) => consuming,
        };
        let mut dead = match consuming {
            Ok(dead) => dead,
            Err(err) if !err.is_retryable() => {
                debug!(%source, error = %err, "dead letters not drained");
                return;
            }
            Err(err) => {
                warn!(%source, error = %err, retry_in = ?backoff, "cannot read dead letters");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        loop {
            let letter = tokio::select! {
                _ = shutdown.cancelled() => {
                    dead.close().await;
                    return;
                }
                letter = dead.next() => letter,
            };
            let Some(letter) = letter else { break };
            if let Err(err) = record(&engine, letter).await {
                warn!(%source, error = %err, retry_in = ?backoff, "dead letter not recorded; left in its queue");
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        dead.close().await;
                        return;
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = Duration::from_millis(100);
            }
        }
        // The consumer ended: the broker is shutting down, or will say why on the
        // next attempt.
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Records one dead letter, then acks it; on a store error hands it back to its queue.
async fn record(engine: &Engine, letter: DeadLetter) -> Result<Recorded, EngineError> {
    let row = new_dead_letter(
        &letter.message,
        &letter.source,
        &letter.reason,
        letter.error.as_deref(),
        letter.deaths,
        engine.clock.now(),
    );
    let span = info_span!(
        "dead_letter.record",
        messaging.message.id = %row.message_id,
        rex.mission.id = row.mission_id.map(|id| id.to_string()).unwrap_or_default(),
        rex.step.id = row.step_id.as_deref().unwrap_or_default(),
        rex.dead_letter.reason = %row.reason,
        rex.dead_letter.recorded = tracing::field::Empty,
    );
    async {
        let destination = row.destination.clone();
        match engine.store.record_dead_letter(row).await {
            Ok(recorded) => {
                tracing::Span::current()
                    .record("rex.dead_letter.recorded", format!("{recorded:?}"));
                if recorded != Recorded::Duplicate {
                    metrics().dead_lettered(&destination);
                    info!(
                        message_id = %letter.message.id,
                        reason = %letter.reason,
                        "dead letter recorded"
                    );
                }
                // Recorded (or known already): the queue may forget it. If the ack is
                // lost, the redelivery is a duplicate.
                if let Err(err) = letter.ack().await {
                    debug!(error = %err, "dead letter ack lost; its redelivery is a duplicate");
                }
                Ok(recorded)
            }
            Err(err) => {
                let _ = letter.nack(true).await;
                Err(err.into())
            }
        }
    }
    .instrument(span)
    .await
}

/// The table row of a dead letter. Pure: identity comes from the task's headers, or
/// from its body when a header is missing; nothing off the wire is trusted to parse.
pub fn new_dead_letter(
    message: &Message,
    source: &Destination,
    reason: &str,
    error: Option<&str>,
    deaths: u32,
    now: DateTime<Utc>,
) -> NewDeadLetter {
    let headers = &message.headers;
    let payload: Value = serde_json::from_slice(&message.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&message.body).into_owned()));
    let from_body = |field: &str| payload.get(field).cloned();
    let mission_id = headers
        .get(HEADER_MISSION)
        .cloned()
        .or_else(|| from_body("mission_id").and_then(|v| v.as_str().map(str::to_owned)))
        .and_then(|id| Uuid::parse_str(&id).ok());
    let step_id = headers
        .get(HEADER_STEP)
        .cloned()
        .or_else(|| from_body("step_id").and_then(|v| v.as_str().map(str::to_owned)));
    let attempt = headers
        .get(HEADER_ATTEMPT)
        .and_then(|a| a.parse::<i32>().ok())
        .or_else(|| {
            from_body("attempt")
                .and_then(|v| v.as_i64())
                .and_then(|a| i32::try_from(a).ok())
        });
    let generation = headers
        .get(REPLAY_HEADER)
        .and_then(|g| g.parse::<i32>().ok())
        .unwrap_or(0);
    let mut headers: BTreeMap<String, String> = headers.clone();
    headers.remove(REPLAY_HEADER);
    NewDeadLetter {
        mission_id,
        step_id,
        attempt,
        destination: destination_name(source),
        message_id: message.id.clone(),
        payload,
        headers,
        reason: reason.to_owned(),
        error: Some(error.map_or_else(|| describe(reason, deaths), str::to_owned)),
        deaths: i32::try_from(deaths).unwrap_or(i32::MAX),
        generation,
        dead_at: now,
    }
}

/// What a broker reason means, for an operator reading the list, when the consumer that
/// gave up did not say.
pub fn describe(reason: &str, deaths: u32) -> String {
    let again = if deaths > 1 {
        format!(" (dead {deaths} times)")
    } else {
        String::new()
    };
    let what = match reason {
        "delivery_limit" => {
            "returned to its queue more often than the delivery limit allows: its worker \
             crashed, lost its connection or handed it back each time"
                .to_owned()
        }
        "rejected" => "rejected by its consumer without an error message".to_owned(),
        "expired" => "expired in its queue".to_owned(),
        "maxlen" => "dropped from a full queue".to_owned(),
        other => format!("dead-lettered by the broker (reason {other:?})"),
    };
    format!("{what}{again}")
}

fn destination_name(source: &Destination) -> String {
    match source {
        Destination::Agent(agent) => agent.clone(),
        Destination::Results => outbox::RESULTS.to_owned(),
        Destination::Inbox => outbox::INBOX.to_owned(),
    }
}

/// What [`replay`] did.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The dead letter, as marked replayed.
    pub dead_letter: dead_letters::Model,
    /// Published now; `false` when the broker was unavailable and the outbox relay of a
    /// running orchestrator will publish it.
    pub published: bool,
}

/// Sends a dead letter's original message to its queue again. The row is marked
/// replayed and the message queued in the outbox in one transaction, then published
/// (the relay publishes it if this process cannot). Replaying twice is harmless: the
/// message keeps its idempotency key.
#[tracing::instrument(skip(engine), fields(rex.dead_letter.id = %id, rex.mission.id))]
pub async fn replay(engine: &Engine, id: Uuid) -> Result<Replayed, EngineError> {
    let txn = engine.store.begin().await?;
    let Some(row) = rex_store::mark_dead_letter_replayed(&txn, id, engine.clock.now()).await?
    else {
        return Err(StoreError::NotFound {
            entity: "dead letter",
            key: id.to_string(),
        }
        .into());
    };
    if let Some(mission) = row.mission_id {
        tracing::Span::current().record("rex.mission.id", tracing::field::display(mission));
    }
    let new = replay_outbox(&row);
    let ids = rex_store::insert_outbox(&txn, vec![new.clone()]).await?;
    txn.commit().await.map_err(StoreError::from)?;

    let Some(&outbox_id) = ids.first() else {
        return Err(EngineError::Corrupt("outbox insert returned no id".into()));
    };
    let outgoing = Outgoing::from_new(outbox_id, new);
    let published = match engine
        .broker
        .publish(vec![(outgoing.destination, outgoing.message)])
        .await
    {
        Ok(()) => {
            if let Err(err) = rex_store::delete_outbox(engine.store.conn(), &ids).await {
                // The relay publishes it once more: a duplicate, harmless.
                debug!(error = %err, "replayed outbox row not deleted");
            }
            true
        }
        Err(err) => {
            info!(error = %err, "replay queued; the outbox relay will publish it");
            false
        }
    };
    info!(message_id = %row.message_id, replay = row.replay_count, published, "dead letter replayed");
    Ok(Replayed {
        dead_letter: row,
        published,
    })
}

/// The outbox row that republishes a dead letter. Pure.
pub fn replay_outbox(row: &dead_letters::Model) -> NewOutbox {
    let mut headers = row.headers_map();
    headers.insert(REPLAY_HEADER.to_owned(), row.replay_count.to_string());
    let body = match &row.payload {
        // A body that was not JSON was kept as its text.
        Value::String(text) => text.clone(),
        json => json.to_string(),
    };
    NewOutbox {
        mission_id: row.mission_id.unwrap_or(Uuid::nil()),
        destination: row.destination.clone(),
        message_id: row.message_id.clone(),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_reason_becomes_a_sentence_when_the_consumer_gave_no_error() {
        assert!(describe("delivery_limit", 1).contains("delivery limit"));
        assert!(describe("delivery_limit", 3).ends_with("(dead 3 times)"));
        assert_eq!(
            describe("weird", 1),
            "dead-lettered by the broker (reason \"weird\")"
        );
    }

    fn row(payload: Value) -> dead_letters::Model {
        dead_letters::Model {
            id: Uuid::nil(),
            mission_id: None,
            step_id: None,
            attempt: None,
            destination: "echo".into(),
            message_id: "m:s:1".into(),
            payload,
            headers: serde_json::json!({"x-rex-step-id": "s", "x-rex-replay": "1"}),
            reason: "rejected".into(),
            error: None,
            deaths: 1,
            dead_at: Utc::now(),
            replayed_at: None,
            replay_count: 2,
        }
    }

    #[test]
    fn identity_comes_from_headers_then_from_the_body() {
        let mission = Uuid::now_v7();
        let body = serde_json::json!({"mission_id": mission.to_string(), "step_id": "score", "attempt": 2});
        let message = Message::new("k", body.to_string()).with_header(REPLAY_HEADER, "3");
        let row = new_dead_letter(
            &message,
            &Destination::Agent("icp".into()),
            "delivery_limit",
            None,
            1,
            Utc::now(),
        );
        assert_eq!(row.mission_id, Some(mission));
        assert_eq!(row.step_id.as_deref(), Some("score"));
        assert_eq!(row.attempt, Some(2));
        assert_eq!(row.generation, 3);
        assert!(
            row.headers.is_empty(),
            "the replay number is not kept as a header"
        );
        assert_eq!(row.destination, "icp");
        assert!(row.error.unwrap().contains("delivery limit"));

        let garbage = Message::new("g", vec![0xff, 0xfe]).with_header(HEADER_ATTEMPT, "x");
        let row = new_dead_letter(
            &garbage,
            &Destination::Results,
            "rejected",
            Some("bad"),
            1,
            Utc::now(),
        );
        assert_eq!((row.mission_id, row.attempt), (None, None));
        assert_eq!(row.destination, "results");
        assert_eq!(row.error.as_deref(), Some("bad"));
        assert!(row.payload.is_string());
    }

    #[test]
    fn a_replay_carries_its_number_and_the_original_body() {
        let out = replay_outbox(&row(serde_json::json!({"step_id": "s"})));
        assert_eq!(
            out.headers.get(REPLAY_HEADER).map(String::as_str),
            Some("2")
        );
        assert_eq!(out.headers.get(HEADER_STEP).map(String::as_str), Some("s"));
        assert_eq!(out.body, r#"{"step_id":"s"}"#);
        assert_eq!(out.message_id, "m:s:1");
        assert_eq!(out.mission_id, Uuid::nil());

        let text = replay_outbox(&row(Value::String("not json".into())));
        assert_eq!(text.body, "not json");
    }
}
