//! Durable timers: rows fired by whichever orchestrator replica claims them first.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::for_update;
use crate::batch::{ids_per_statement, insert_models, rows_per_statement};
use crate::timers::{self, Column, Entity};
use crate::{StoreError, to_db_precision};

/// Inserts timers in multi-row statements.
pub async fn insert_timers<C>(c: &C, rows: Vec<timers::Model>) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    let rows: Vec<timers::Model> = rows
        .into_iter()
        .map(|mut t| {
            t.due_at = to_db_precision(t.due_at);
            t.created_at = to_db_precision(t.created_at);
            t
        })
        .collect();
    for chunk in rows.chunks(rows_per_statement(c.get_database_backend(), 7)) {
        c.execute(&insert_models::<Entity>(chunk)?).await?;
    }
    Ok(())
}

/// Deletes timers by id (fired or disarmed); returns how many rows went.
pub async fn delete_timers<C>(c: &C, ids: &[Uuid]) -> Result<u64, StoreError>
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

/// Deletes every timer of a mission (it finished or was cancelled).
pub async fn delete_mission_timers<C>(c: &C, mission_id: Uuid) -> Result<u64, StoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::delete_many()
        .filter(Column::MissionId.eq(mission_id))
        .exec(c)
        .await?
        .rows_affected)
}

/// Deletes every timer of these missions (they finished or were cancelled) in one
/// statement per few thousand missions, instead of one per mission (the commit path's
/// finished missions; doubles the timer firing rate).
pub async fn delete_timers_of_missions<C>(c: &C, mission_ids: &[Uuid]) -> Result<u64, StoreError>
where
    C: ConnectionTrait,
{
    let mut deleted = 0;
    for chunk in mission_ids.chunks(ids_per_statement(c.get_database_backend())) {
        deleted += Entity::delete_many()
            .filter(Column::MissionId.is_in(chunk.iter().copied()))
            .exec(c)
            .await?
            .rows_affected;
    }
    Ok(deleted)
}

/// The timers due at `now`, earliest first. On PostgreSQL they stay locked until the
/// transaction ends and timers another replica holds are skipped
/// (`FOR UPDATE SKIP LOCKED`), so replicas fire disjoint sets.
pub async fn claim_due_timers<C>(
    c: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<timers::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let query = Entity::find()
        .filter(Column::DueAt.lte(to_db_precision(now)))
        .order_by_asc(Column::DueAt)
        .order_by_asc(Column::Id)
        .limit(limit);
    Ok(for_update(c, query, true).all(c).await?)
}

/// When the next timer is due, to sleep until then.
pub async fn next_timer_due<C>(c: &C) -> Result<Option<DateTime<Utc>>, StoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find()
        .select_only()
        .column(Column::DueAt)
        .order_by_asc(Column::DueAt)
        .limit(1)
        .into_tuple::<DateTime<Utc>>()
        .one(c)
        .await?)
}
