//! Dead letters: recorded by the orchestrator as it drains the broker's dead-letter
//! queues (at least once, so idempotently by message id), listed and fetched for the
//! operator, marked replayed inside the transaction that queues the replay.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::for_update;
use crate::batch::insert_models;
use crate::dead_letters::{self, Column, Entity};
use crate::{Store, StoreError, to_db_precision};

/// A dead letter as read off the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDeadLetter {
    pub mission_id: Option<Uuid>,
    pub step_id: Option<String>,
    pub attempt: Option<i32>,
    /// The agent whose queue it died in, or [`crate::outbox::RESULTS`].
    pub destination: String,
    pub message_id: String,
    pub payload: serde_json::Value,
    pub headers: BTreeMap<String, String>,
    pub reason: String,
    pub error: Option<String>,
    pub deaths: i32,
    /// Which replay this copy came from (0: the original publish). A death of an older
    /// copy than the last replay is a late duplicate, not a new death.
    pub generation: i32,
    pub dead_at: DateTime<Utc>,
}

/// What [`Store::record_dead_letter`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new row.
    New,
    /// A replayed message died again: its row is waiting for an operator again.
    DiedAgain,
    /// Already recorded (a redelivery of the same dead letter): nothing changed.
    Duplicate,
}

/// Which dead letters to list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only those that died in this agent's queue (or `results`).
    pub destination: Option<String>,
    pub mission_id: Option<Uuid>,
    /// Default 100.
    pub limit: u64,
}

impl Default for DeadLetterFilter {
    fn default() -> Self {
        Self {
            destination: None,
            mission_id: None,
            limit: 100,
        }
    }
}

impl Store {
    /// Records a dead letter once per message id. Safe to call again with the same
    /// message (the broker may deliver a dead letter twice): the second call is a
    /// [`Recorded::Duplicate`]. A message that was replayed and died again reopens its
    /// row (new reason, error and time; `replayed_at` cleared).
    pub async fn record_dead_letter(&self, row: NewDeadLetter) -> Result<Recorded, StoreError> {
        let headers = headers_json(&row.headers);
        let dead_at = to_db_precision(row.dead_at);
        let model = dead_letters::Model {
            id: Uuid::now_v7(),
            mission_id: row.mission_id,
            step_id: row.step_id.clone(),
            attempt: row.attempt,
            destination: row.destination.clone(),
            message_id: row.message_id.clone(),
            payload: row.payload.clone(),
            headers: headers.clone(),
            reason: row.reason.clone(),
            error: row.error.clone(),
            deaths: row.deaths,
            dead_at,
            replayed_at: None,
            replay_count: 0,
        };
        let mut insert = insert_models::<Entity>(std::slice::from_ref(&model))?;
        insert.on_conflict(
            OnConflict::column(Column::MessageId)
                .do_nothing()
                .to_owned(),
        );
        if self.conn().execute(&insert).await?.rows_affected() == 1 {
            return Ok(Recorded::New);
        }
        let reopened = Entity::update_many()
            .col_expr(Column::Payload, Expr::value(row.payload))
            .col_expr(Column::Headers, Expr::value(headers))
            .col_expr(Column::Reason, Expr::value(row.reason))
            .col_expr(Column::Error, Expr::value(row.error))
            .col_expr(Column::Deaths, Expr::value(row.deaths))
            .col_expr(Column::DeadAt, Expr::value(dead_at))
            .col_expr(
                Column::ReplayedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(Column::MessageId.eq(row.message_id))
            .filter(Column::ReplayedAt.is_not_null())
            .filter(Column::ReplayCount.lte(row.generation))
            .exec(self.conn())
            .await?
            .rows_affected;
        Ok(if reopened == 1 {
            Recorded::DiedAgain
        } else {
            Recorded::Duplicate
        })
    }

    pub async fn get_dead_letter(
        &self,
        id: Uuid,
    ) -> Result<Option<dead_letters::Model>, StoreError> {
        Ok(Entity::find_by_id(id).one(self.conn()).await?)
    }

    /// Newest first.
    pub async fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> Result<Vec<dead_letters::Model>, StoreError> {
        let mut query = Entity::find();
        if let Some(destination) = filter.destination {
            query = query.filter(Column::Destination.eq(destination));
        }
        if let Some(mission_id) = filter.mission_id {
            query = query.filter(Column::MissionId.eq(mission_id));
        }
        Ok(query
            .order_by_desc(Column::DeadAt)
            .order_by_desc(Column::Id)
            .limit(filter.limit)
            .all(self.conn())
            .await?)
    }
}

/// Inside the caller's transaction: locks the row, sets `replayed_at` and counts the
/// replay. `None` if there is no such dead letter. The caller queues the replay (an
/// outbox row) in the same transaction, so a replay is either both or neither.
pub async fn mark_dead_letter_replayed<C>(
    c: &C,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<dead_letters::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let Some(row) = for_update(c, Entity::find_by_id(id), false).one(c).await? else {
        return Ok(None);
    };
    let replay_count = row.replay_count.saturating_add(1);
    let mut active = row.into_active_model();
    active.replayed_at = Set(Some(to_db_precision(at)));
    active.replay_count = Set(replay_count);
    Ok(Some(active.update(c).await?))
}

fn headers_json(headers: &BTreeMap<String, String>) -> serde_json::Value {
    serde_json::Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}
