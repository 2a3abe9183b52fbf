//! `outbox`: messages committed in the same transaction as the state change that
//! implies them; the row is deleted once the broker confirmed the publish.

use std::collections::BTreeMap;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// `destination` of the messages bound for the orchestrator's result queue.
pub const RESULTS: &str = "results";
/// `destination` of provider events bound for the inbox queue (a replayed dead letter).
pub const INBOX: &str = "inbox";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub mission_id: Uuid,
    /// An agent name (its queue), [`RESULTS`] or [`INBOX`].
    pub destination: String,
    /// The AMQP message id: the task's idempotency key.
    pub message_id: String,
    /// A JSON object of string values (AMQP headers, `traceparent` among them).
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub created_at: DateTimeUtc,
}

impl Model {
    /// The headers as a map; non-string values (never written by the store) are
    /// skipped rather than failing a publish.
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
