//! `rex dead-letters list|replay`: the tasks the broker gave up on, and sending one
//! back. The orchestrator moves dead letters from RabbitMQ into the database, so both
//! commands read and write the database only (a replay is published by this process
//! when a broker is configured, otherwise by a running orchestrator's outbox relay).

use std::fmt::Write as _;
use std::process::ExitCode;

use rex_store::{DeadLetterFilter, dead_letters};

use crate::cli::{DeadLettersCommand, Global};
use crate::setup;

pub async fn run(g: &Global, cmd: DeadLettersCommand) -> anyhow::Result<ExitCode> {
    let store = setup::store(g, None).await?;
    match cmd {
        DeadLettersCommand::List {
            agent,
            mission,
            limit,
            json,
        } => {
            let rows = store
                .list_dead_letters(DeadLetterFilter {
                    destination: agent,
                    mission_id: mission,
                    limit,
                })
                .await?;
            if json {
                println!("{:#}", serde_json::to_value(&rows)?);
            } else {
                print!("{}", list(&rows));
            }
        }
        DeadLettersCommand::Replay { id } => {
            let engine = setup::engine(store, setup::command_broker(g).await?);
            let replayed = rex_engine::dead_letters::replay(&engine, id).await?;
            let row = &replayed.dead_letter;
            println!(
                "dead letter {id} replayed (replay {}): message {} to {}",
                row.replay_count, row.message_id, row.destination
            );
            if !replayed.published {
                println!("queued in the outbox: a running orchestrator's relay publishes it");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per dead letter, then its error indented beneath it.
fn list(rows: &[dead_letters::Model]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:36}  {:12}  {:14}  {:20}  {:8}  dead at",
        "id", "agent", "reason", "step (attempt)", "replayed"
    );
    for r in rows {
        let step = match (&r.step_id, r.attempt) {
            (Some(step), Some(attempt)) => format!("{step} ({attempt})"),
            (Some(step), None) => step.clone(),
            _ => "-".to_owned(),
        };
        let replayed = match r.replayed_at {
            Some(_) => format!("{}×", r.replay_count),
            None => "no".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:36}  {:12}  {:14}  {:20}  {:8}  {}",
            r.id,
            r.destination,
            r.reason,
            step,
            replayed,
            r.dead_at.format("%Y-%m-%d %H:%M:%S%.3f")
        );
        let mission = r
            .mission_id
            .map_or_else(|| "unknown mission".to_owned(), |m| format!("mission {m}"));
        let _ = writeln!(
            out,
            "    {mission}: {}",
            r.error.as_deref().unwrap_or("(no error given)")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dead_letter_shows_its_step_and_error() {
        let row = dead_letters::Model {
            id: uuid::Uuid::nil(),
            mission_id: None,
            step_id: Some("score".into()),
            attempt: Some(2),
            destination: "icp".into(),
            message_id: "m:score:2".into(),
            payload: serde_json::json!({}),
            headers: serde_json::json!({}),
            reason: "delivery_limit".into(),
            error: Some("worker crashed".into()),
            deaths: 1,
            dead_at: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            replayed_at: None,
            replay_count: 0,
        };
        let text = list(&[row]);
        assert!(text.contains("score (2)"), "{text}");
        assert!(text.contains("unknown mission: worker crashed"), "{text}");
        assert_eq!(text.lines().count(), 3);
    }
}
