//! Steps: loaded and written in batches by the orchestrator.

use std::collections::HashMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::batch::{ids_per_statement, insert_models, rows_per_statement};
use crate::steps::{self, Column, Entity};
use crate::{StoreError, to_db_precision};

/// The steps of several missions, ordered by (mission id, step id).
pub async fn load_steps<C>(c: &C, mission_ids: &[Uuid]) -> Result<Vec<steps::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let mut ids = mission_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut rows = Vec::new();
    for chunk in ids.chunks(ids_per_statement(c.get_database_backend())) {
        rows.extend(
            Entity::find()
                .filter(Column::MissionId.is_in(chunk.iter().copied()))
                .order_by_asc(Column::MissionId)
                .order_by_asc(Column::StepId)
                .all(c)
                .await?,
        );
    }
    Ok(rows)
}

/// Inserts or overwrites steps by (mission id, step id) in multi-row statements.
/// When a key appears twice in `rows`, the last one wins.
pub async fn upsert_steps<C>(c: &C, rows: &[steps::Model]) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    // PostgreSQL refuses to update one row twice in a statement
    let mut last: HashMap<(Uuid, &str), usize> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        last.insert((row.mission_id, row.step_id.as_str()), i);
    }
    let rows: Vec<steps::Model> = rows
        .iter()
        .enumerate()
        .filter(|(i, row)| last[&(row.mission_id, row.step_id.as_str())] == *i)
        .map(|(_, row)| normalize(row.clone()))
        .collect();

    let per_statement = rows_per_statement(c.get_database_backend(), COLUMNS.len() + 2);
    for chunk in rows.chunks(per_statement) {
        let mut stmt = insert_models::<Entity>(chunk)?;
        stmt.on_conflict(
            OnConflict::columns([Column::MissionId, Column::StepId])
                .update_columns(COLUMNS)
                .to_owned(),
        );
        c.execute(&stmt).await?;
    }
    Ok(())
}

/// Every column but the key.
const COLUMNS: [Column; 10] = [
    Column::Status,
    Column::Attempt,
    Column::Input,
    Column::Output,
    Column::Error,
    Column::DispatchedAt,
    Column::FinishedAt,
    Column::UpdatedAt,
    Column::RetryBase,
    Column::Fanout,
];

fn normalize(mut s: steps::Model) -> steps::Model {
    s.dispatched_at = s.dispatched_at.map(to_db_precision);
    s.finished_at = s.finished_at.map(to_db_precision);
    s.updated_at = to_db_precision(s.updated_at);
    s
}
