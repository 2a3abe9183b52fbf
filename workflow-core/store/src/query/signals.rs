//! Signals and correlation keys, read and written inside the orchestrator's
//! transactions.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::batch::{ids_per_statement, insert_models, rows_per_statement};
use crate::entity::{mission_keys, missions, signals};
use crate::{StoreError, to_db_precision};

/// Every signal of these missions, oldest first.
pub async fn load_signals<C>(c: &C, mission_ids: &[Uuid]) -> Result<Vec<signals::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let mut out = Vec::new();
    for chunk in mission_ids.chunks(ids_per_statement(c.get_database_backend())) {
        out.extend(
            signals::Entity::find()
                .filter(signals::Column::MissionId.is_in(chunk.iter().copied()))
                .order_by_asc(signals::Column::ReceivedAt)
                .order_by_asc(signals::Column::SignalId)
                .all(c)
                .await?,
        );
    }
    Ok(out)
}

/// Inserts new signals and records which step used them.
pub async fn upsert_signals<C>(c: &C, rows: &[signals::Model]) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    let rows: Vec<signals::Model> = rows
        .iter()
        .cloned()
        .map(|mut r| {
            r.received_at = to_db_precision(r.received_at);
            r
        })
        .collect();
    for chunk in rows.chunks(rows_per_statement(c.get_database_backend(), 6)) {
        let mut stmt = insert_models::<signals::Entity>(chunk)?;
        stmt.on_conflict(
            OnConflict::columns([signals::Column::MissionId, signals::Column::SignalId])
                .update_column(signals::Column::ConsumedBy)
                .to_owned(),
        );
        c.execute(&stmt).await?;
    }
    Ok(())
}

/// Records the correlation keys of a new mission.
pub async fn insert_mission_keys<C>(
    c: &C,
    mission_id: Uuid,
    keys: &[String],
) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    let mut keys: Vec<&String> = keys.iter().collect();
    keys.sort();
    keys.dedup();
    let rows: Vec<mission_keys::Model> = keys
        .into_iter()
        .map(|key| mission_keys::Model {
            key: key.clone(),
            mission_id,
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = insert_models::<mission_keys::Entity>(&rows)?;
    stmt.on_conflict(
        OnConflict::columns([mission_keys::Column::Key, mission_keys::Column::MissionId])
            .do_nothing()
            .to_owned(),
    );
    c.execute(&stmt).await?;
    Ok(())
}

/// The running missions listening on `key`; with `tenants`, only the missions of those
/// tenants (slugs), never another tenant's that happens to use the same key (two
/// tenants' CRMs may both have a lead `42`).
pub async fn running_missions_with_key<C>(
    c: &C,
    key: &str,
    tenants: Option<&[&str]>,
) -> Result<Vec<Uuid>, StoreError>
where
    C: ConnectionTrait,
{
    let ids: Vec<Uuid> = mission_keys::Entity::find()
        .filter(mission_keys::Column::Key.eq(key))
        .all(c)
        .await?
        .into_iter()
        .map(|k| k.mission_id)
        .collect();
    let mut running = Vec::new();
    for chunk in ids.chunks(ids_per_statement(c.get_database_backend())) {
        let mut query = missions::Entity::find()
            .filter(missions::Column::Id.is_in(chunk.iter().copied()))
            .filter(missions::Column::Status.eq("running"));
        if let Some(tenants) = tenants {
            query = query.filter(missions::Column::TenantId.is_in(tenants.iter().copied()));
        }
        running.extend(query.all(c).await?.into_iter().map(|m| m.id));
    }
    running.sort();
    Ok(running)
}
