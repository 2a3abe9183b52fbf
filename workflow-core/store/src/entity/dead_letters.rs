//! `dead_letters`: messages the broker gave up on, with why, and whether an operator
//! replayed them. One row per message id: a message that dies again after a replay
//! updates its row rather than adding one.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// From the message's headers; `None` when a malformed message lacked them.
    pub mission_id: Option<Uuid>,
    pub step_id: Option<String>,
    pub attempt: Option<i32>,
    /// The agent whose queue it died in, or [`crate::outbox::RESULTS`].
    pub destination: String,
    /// The AMQP message id (the task's idempotency key); unique.
    pub message_id: String,
    /// The message body: its JSON, or a JSON string of the text if it was not JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    /// A JSON object of string values: the headers the sender set.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    /// The broker's reason: `delivery_limit`, `rejected`, `expired`, …
    pub reason: String,
    /// The consumer's error when it gave one, else a sentence derived from the reason.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// Deaths of this message so far (a replay that dies again counts up).
    pub deaths: i32,
    pub dead_at: DateTimeUtc,
    /// When it was last replayed; `None` while it waits for an operator.
    pub replayed_at: Option<DateTimeUtc>,
    pub replay_count: i32,
}

impl Model {
    /// The headers as a map; non-string values (never written by the store) are skipped.
    pub fn headers_map(&self) -> BTreeMap<String, String> {
        match &self.headers {
            Json::Object(map) => map
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
