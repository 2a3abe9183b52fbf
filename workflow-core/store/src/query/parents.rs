//! Child missions of fan-out steps: recorded when a parent starts them, counted and
//! gathered inside the parent's transactions.

use std::collections::HashMap;

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use crate::StoreError;
use crate::batch::{ids_per_statement, insert_models, rows_per_statement};
use crate::entity::{mission_parents, missions};

/// Records new child missions.
pub async fn insert_mission_parents<C>(
    c: &C,
    rows: &[mission_parents::Model],
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    for chunk in rows.chunks(rows_per_statement(c.get_database_backend(), 6)) {
        c.execute(&insert_models::<mission_parents::Entity>(chunk)?)
            .await?;
    }
    Ok(())
}

/// The parent links of whichever of `child_ids` are child missions.
pub async fn load_parents<C>(
    c: &C,
    child_ids: &[Uuid],
) -> Result<Vec<mission_parents::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let mut out = Vec::new();
    for chunk in child_ids.chunks(ids_per_statement(c.get_database_backend())) {
        out.extend(
            mission_parents::Entity::find()
                .filter(mission_parents::Column::ChildId.is_in(chunk.iter().copied()))
                .all(c)
                .await?,
        );
    }
    Ok(out)
}

/// Finished children of one fan-out attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildTallyRow {
    pub succeeded: u32,
    pub failed: u32,
}

/// One child's outcome, for the join.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRow {
    pub index: u32,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
}

fn children_of(parent: Uuid, step: &str, attempt: u32) -> SelectStatement {
    Query::select()
        .column(mission_parents::Column::ChildId)
        .from(mission_parents::Entity)
        .and_where(mission_parents::Column::ParentId.eq(parent))
        .and_where(mission_parents::Column::ParentStep.eq(step))
        .and_where(mission_parents::Column::ParentAttempt.eq(attempt as i32))
        .to_owned()
}

/// How many children of `parent`'s step `step` at `attempt` succeeded and failed (a
/// cancelled child counts as failed).
pub async fn tally_children<C>(
    c: &C,
    parent: Uuid,
    step: &str,
    attempt: u32,
) -> Result<ChildTallyRow, StoreError>
where
    C: ConnectionTrait,
{
    let rows: Vec<(String, i64)> = missions::Entity::find()
        .select_only()
        .column(missions::Column::Status)
        .column_as(missions::Column::Id.count(), "n")
        .filter(missions::Column::Id.in_subquery(children_of(parent, step, attempt)))
        .filter(missions::Column::Status.is_in([
            missions::status::SUCCEEDED,
            missions::status::FAILED,
            missions::status::CANCELLED,
        ]))
        .group_by(missions::Column::Status)
        .into_tuple()
        .all(c)
        .await?;
    let mut tally = ChildTallyRow::default();
    for (status, n) in rows {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if status == missions::status::SUCCEEDED {
            tally.succeeded += n;
        } else {
            tally.failed += n;
        }
    }
    Ok(tally)
}

/// Up to `limit` failed (or cancelled) children, by item index.
pub async fn failed_children<C>(
    c: &C,
    parent: Uuid,
    step: &str,
    attempt: u32,
    limit: u64,
) -> Result<Vec<ChildRow>, StoreError>
where
    C: ConnectionTrait,
{
    let failed: Vec<missions::Model> = missions::Entity::find()
        .filter(missions::Column::Id.in_subquery(children_of(parent, step, attempt)))
        .filter(
            missions::Column::Status.is_in([missions::status::FAILED, missions::status::CANCELLED]),
        )
        .all(c)
        .await?;
    let mut rows = with_index(c, failed).await?;
    rows.sort_by_key(|r| r.index);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows)
}

/// Every child of the attempt with its outcome, in item order.
pub async fn child_results<C>(
    c: &C,
    parent: Uuid,
    step: &str,
    attempt: u32,
) -> Result<Vec<ChildRow>, StoreError>
where
    C: ConnectionTrait,
{
    let children: Vec<missions::Model> = missions::Entity::find()
        .filter(missions::Column::Id.in_subquery(children_of(parent, step, attempt)))
        .all(c)
        .await?;
    let mut rows = with_index(c, children).await?;
    rows.sort_by_key(|r| r.index);
    Ok(rows)
}

/// Children of the attempt that have not finished.
pub async fn unfinished_children<C>(
    c: &C,
    parent: Uuid,
    step: &str,
    attempt: u32,
) -> Result<Vec<Uuid>, StoreError>
where
    C: ConnectionTrait,
{
    Ok(missions::Entity::find()
        .select_only()
        .column(missions::Column::Id)
        .filter(missions::Column::Id.in_subquery(children_of(parent, step, attempt)))
        .filter(missions::Column::Status.is_not_in([
            missions::status::SUCCEEDED,
            missions::status::FAILED,
            missions::status::CANCELLED,
        ]))
        .order_by_asc(missions::Column::Id)
        .into_tuple()
        .all(c)
        .await?)
}

async fn with_index<C>(c: &C, children: Vec<missions::Model>) -> Result<Vec<ChildRow>, StoreError>
where
    C: ConnectionTrait,
{
    let ids: Vec<Uuid> = children.iter().map(|m| m.id).collect();
    let index: HashMap<Uuid, u32> = load_parents(c, &ids)
        .await?
        .into_iter()
        .map(|p| (p.child_id, u32::try_from(p.item_index).unwrap_or(0)))
        .collect();
    Ok(children
        .into_iter()
        .map(|m| ChildRow {
            index: index.get(&m.id).copied().unwrap_or(0),
            status: m.status,
            output: m.output,
            error: m.error,
        })
        .collect())
}
