//! Outbox rows ⇄ broker messages.

use std::collections::BTreeMap;

use rex_broker::{Destination, Message};
use rex_core::protocol::{HEADER_ATTEMPT, HEADER_KIND, HEADER_MISSION, HEADER_STEP, TaskMessage};
use rex_store::NewOutbox;
use rex_store::entity::outbox::{self, INBOX, RESULTS};
use uuid::Uuid;

/// A committed outbox row ready to publish.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub outbox_id: i64,
    pub destination: Destination,
    pub message: Message,
}

/// The outbox row of a task.
pub(crate) fn task_outbox(mission_id: Uuid, task: TaskMessage) -> NewOutbox {
    let headers = BTreeMap::from([
        (HEADER_MISSION.to_owned(), task.mission_id.clone()),
        (HEADER_STEP.to_owned(), task.step_id.clone()),
        (HEADER_ATTEMPT.to_owned(), task.attempt.to_string()),
        (HEADER_KIND.to_owned(), "task".to_owned()),
    ]);
    NewOutbox {
        mission_id,
        destination: task.agent.clone(),
        message_id: task.idempotency_key.clone(),
        headers,
        body: serde_json::to_string(&task).unwrap_or_default(),
    }
}

fn destination(name: &str) -> Destination {
    match name {
        RESULTS => Destination::Results,
        INBOX => Destination::Inbox,
        agent => Destination::Agent(agent.to_owned()),
    }
}

impl Outgoing {
    pub(crate) fn from_new(outbox_id: i64, row: NewOutbox) -> Self {
        Self {
            outbox_id,
            destination: destination(&row.destination),
            message: Message {
                id: row.message_id,
                headers: row.headers,
                body: row.body.into_bytes(),
            },
        }
    }

    pub(crate) fn from_row(row: outbox::Model) -> Self {
        Self {
            outbox_id: row.id,
            destination: destination(&row.destination),
            message: Message {
                headers: row.headers_map(),
                id: row.message_id,
                body: row.body.into_bytes(),
            },
        }
    }
}
