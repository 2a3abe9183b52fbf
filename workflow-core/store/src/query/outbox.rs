//! The transactional outbox: written with the state change, claimed by the relay,
//! deleted once the broker confirmed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::for_update;
use crate::batch::{ids_per_statement, rows_per_statement};
use crate::outbox::{self, Column, Entity};
use crate::{Store, StoreError, now, to_db_precision};

/// A message to publish once the transaction commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOutbox {
    pub mission_id: Uuid,
    /// An agent name (its queue) or [`outbox::RESULTS`].
    pub destination: String,
    /// The AMQP message id (the task's idempotency key).
    pub message_id: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

const INSERT_COLUMNS: [Column; 6] = [
    Column::MissionId,
    Column::Destination,
    Column::MessageId,
    Column::Headers,
    Column::Body,
    Column::CreatedAt,
];

/// Inserts the messages in multi-row statements and returns their ids, in the order
/// of `rows`.
pub async fn insert_outbox<C>(c: &C, rows: Vec<NewOutbox>) -> Result<Vec<i64>, StoreError>
where
    C: ConnectionTrait,
{
    let created_at = now();
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(rows_per_statement(
        c.get_database_backend(),
        INSERT_COLUMNS.len(),
    )) {
        let mut stmt = Query::insert();
        stmt.into_table(Entity).columns(INSERT_COLUMNS);
        for row in chunk {
            let headers: serde_json::Map<String, serde_json::Value> = row
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            stmt.values_panic([
                row.mission_id.into(),
                row.destination.clone().into(),
                row.message_id.clone().into(),
                serde_json::Value::Object(headers).into(),
                row.body.clone().into(),
                created_at.into(),
            ]);
        }
        stmt.returning_col(Column::Id);
        let mut chunk_ids = c
            .query_all(&stmt)
            .await?
            .iter()
            .map(|r| r.try_get::<i64>("", "id"))
            .collect::<Result<Vec<_>, _>>()?;
        // ids are assigned in VALUES order; RETURNING's row order is not promised
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

/// Deletes published messages; returns how many rows went.
pub async fn delete_outbox<C>(c: &C, ids: &[i64]) -> Result<u64, StoreError>
where
    C: ConnectionTrait,
{
    let mut deleted = 0;
    for chunk in ids.chunks(ids_per_statement(c.get_database_backend())) {
        deleted += Entity::delete_many()
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .exec(c)
            .await?
            .rows_affected;
    }
    Ok(deleted)
}

/// The oldest messages created before `older_than` (the relay leaves fresh rows to
/// the orchestrator that is publishing them right now), in id order. On PostgreSQL
/// the rows stay locked until the transaction ends and rows locked by another relay
/// are skipped (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_outbox<C>(
    c: &C,
    older_than: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<outbox::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let query = Entity::find()
        .filter(Column::CreatedAt.lt(to_db_precision(older_than)))
        .order_by_asc(Column::Id)
        .limit(limit);
    Ok(for_update(c, query, true).all(c).await?)
}

impl Store {
    /// Messages not yet published (a gauge for metrics and health).
    pub async fn count_outbox(&self) -> Result<u64, StoreError> {
        Ok(Entity::find().count(self.conn()).await?)
    }

    /// When the oldest unpublished message was written, if any.
    pub async fn oldest_outbox(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Entity::find()
            .select_only()
            .column(Column::CreatedAt)
            .order_by_asc(Column::CreatedAt)
            .limit(1)
            .into_tuple::<DateTime<Utc>>()
            .one(self.conn())
            .await?)
    }
}
