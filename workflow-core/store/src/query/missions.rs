//! Missions: the read side for the API and CLI, and the locking and writing the
//! orchestrator does inside its transactions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::for_update;
use crate::batch::{ids_per_statement, insert_models};
use crate::missions::{self, Column, Entity};
use crate::{Store, StoreError, mission_parents, steps, to_db_precision};

/// Which missions to list, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissionFilter {
    /// Only missions in this status (`pending`, `running`, …).
    pub status: Option<String>,
    /// Only missions of this definition name (any version).
    pub definition: Option<String>,
    /// Page size; default 100.
    pub limit: u64,
    /// Keyset cursor: only missions strictly older than this `(created_at, id)`,
    /// i.e. the last row of the previous page.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    /// Which missions by their place in a fan-out (default: every mission).
    pub family: Family,
}

/// Missions by their place in a fan-out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Family {
    /// Every mission.
    #[default]
    All,
    /// Only missions that are nobody's child (what a user started).
    TopLevel,
    /// Only the children of this mission.
    ChildrenOf(Uuid),
}

/// Narrows a [`MissionFilter`] to one tenant and a creation time range (the HTTP API's
/// listings). The default narrows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MissionScope {
    /// Only missions of this tenant (its slug, `missions.tenant_id`).
    pub tenant: Option<String>,
    /// Only missions created at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Only missions created strictly before this time.
    pub created_to: Option<DateTime<Utc>>,
}

impl Default for MissionFilter {
    fn default() -> Self {
        MissionFilter {
            status: None,
            definition: None,
            limit: 100,
            before: None,
            family: Family::All,
        }
    }
}

impl Store {
    pub async fn get_mission(&self, id: Uuid) -> Result<Option<missions::Model>, StoreError> {
        Ok(Entity::find_by_id(id).one(self.conn()).await?)
    }

    /// A mission of one tenant: another tenant's mission is `None`, exactly as a mission
    /// that does not exist.
    pub async fn get_tenant_mission(
        &self,
        tenant: &str,
        id: Uuid,
    ) -> Result<Option<missions::Model>, StoreError> {
        tenant_mission(self.conn(), tenant, id).await
    }

    pub async fn find_mission_by_idempotency_key(
        &self,
        key: &str,
    ) -> Result<Option<missions::Model>, StoreError> {
        Ok(Entity::find()
            .filter(Column::IdempotencyKey.eq(key))
            .one(self.conn())
            .await?)
    }

    /// A page of missions ordered by `(created_at, id)` descending; pass the last row's
    /// `(created_at, id)` as `before` to get the next page.
    pub async fn list_missions(
        &self,
        filter: MissionFilter,
    ) -> Result<Vec<missions::Model>, StoreError> {
        self.list_missions_scoped(filter, MissionScope::default())
            .await
    }

    /// [`Store::list_missions`] narrowed by `scope` (tenant, creation time range).
    pub async fn list_missions_scoped(
        &self,
        filter: MissionFilter,
        scope: MissionScope,
    ) -> Result<Vec<missions::Model>, StoreError> {
        list_missions_in(self.conn(), filter, scope).await
    }

    /// The steps of one mission, by step id.
    pub async fn mission_steps(&self, id: Uuid) -> Result<Vec<steps::Model>, StoreError> {
        crate::load_steps(self.conn(), &[id]).await
    }
}

/// [`Store::get_tenant_mission`] on a connection or transaction of the caller's.
pub async fn tenant_mission<C>(
    c: &C,
    tenant: &str,
    id: Uuid,
) -> Result<Option<missions::Model>, StoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant))
        .one(c)
        .await?)
}

/// [`Store::list_missions_scoped`] on a connection or transaction of the caller's
/// (the HTTP API's tenant-scoped transactions, under PostgreSQL row-level security).
pub async fn list_missions_in<C>(
    c: &C,
    filter: MissionFilter,
    scope: MissionScope,
) -> Result<Vec<missions::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let mut query = Entity::find();
    if let Some(tenant) = scope.tenant {
        query = query.filter(Column::TenantId.eq(tenant));
    }
    if let Some(from) = scope.created_from {
        query = query.filter(Column::CreatedAt.gte(to_db_precision(from)));
    }
    if let Some(to) = scope.created_to {
        query = query.filter(Column::CreatedAt.lt(to_db_precision(to)));
    }
    if let Some(status) = filter.status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(definition) = filter.definition {
        query = query.filter(Column::DefinitionName.eq(definition));
    }
    let children = |parent: Option<Uuid>| {
        let mut q = Query::select();
        q.column(mission_parents::Column::ChildId)
            .from(mission_parents::Entity);
        if let Some(parent) = parent {
            q.and_where(mission_parents::Column::ParentId.eq(parent));
        }
        q.to_owned()
    };
    match filter.family {
        Family::All => {}
        Family::TopLevel => query = query.filter(Column::Id.not_in_subquery(children(None))),
        Family::ChildrenOf(parent) => {
            query = query.filter(Column::Id.in_subquery(children(Some(parent))));
        }
    }
    if let Some((created_at, id)) = filter.before {
        let created_at = to_db_precision(created_at);
        query = query.filter(
            Condition::any().add(Column::CreatedAt.lt(created_at)).add(
                Condition::all()
                    .add(Column::CreatedAt.eq(created_at))
                    .add(Column::Id.lt(id)),
            ),
        );
    }
    Ok(query
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .limit(filter.limit)
        .all(c)
        .await?)
}

/// Reads a mission and locks its row until the caller's transaction ends
/// (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite the `BEGIN IMMEDIATE` of
/// [`Store::begin`] already holds the only writer lock).
pub async fn lock_mission<C>(c: &C, id: Uuid) -> Result<Option<missions::Model>, StoreError>
where
    C: ConnectionTrait,
{
    Ok(for_update(c, Entity::find_by_id(id), false).one(c).await?)
}

/// Reads and locks several missions in ascending id order, so that two transactions
/// locking overlapping sets cannot deadlock. Unknown ids are absent from the result.
pub async fn lock_missions<C>(c: &C, ids: &[Uuid]) -> Result<Vec<missions::Model>, StoreError>
where
    C: ConnectionTrait,
{
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut found = Vec::with_capacity(ids.len());
    // chunks of a sorted list keep the global lock order ascending
    for chunk in ids.chunks(ids_per_statement(c.get_database_backend())) {
        let query = Entity::find()
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(Column::Id);
        found.extend(for_update(c, query, false).all(c).await?);
    }
    Ok(found)
}

/// Inserts a new mission. A duplicate idempotency key fails with a unique violation
/// ([`StoreError::is_unique_violation`]).
pub async fn insert_mission<C>(c: &C, mission: missions::Model) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    let mission = normalize(mission);
    c.execute(&insert_models::<Entity>(std::slice::from_ref(&mission))?)
        .await?;
    Ok(())
}

/// Inserts new missions in multi-row statements (child missions of a fan-out).
pub async fn insert_missions<C>(c: &C, rows: Vec<missions::Model>) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    let rows: Vec<missions::Model> = rows.into_iter().map(normalize).collect();
    for chunk in rows.chunks(crate::batch::rows_per_statement(
        c.get_database_backend(),
        14,
    )) {
        c.execute(&insert_models::<Entity>(chunk)?).await?;
    }
    Ok(())
}

/// Writes every column of each mission (by id). A mission that does not exist is a
/// `NotFound`: the orchestrator only updates missions it has locked.
pub async fn update_missions<C>(c: &C, rows: &[missions::Model]) -> Result<(), StoreError>
where
    C: ConnectionTrait,
{
    // One `UPDATE … SET col = CASE id WHEN … END … WHERE id IN (…)` per chunk: the
    // orchestrator writes a whole batch of missions in one round trip. Only the columns
    // a transition changes are written.
    const MUTABLE: [Column; 5] = [
        Column::Status,
        Column::Output,
        Column::Error,
        Column::UpdatedAt,
        Column::FinishedAt,
    ];
    let backend = c.get_database_backend();
    // each row binds its id once per CASE plus once in the IN list
    let per_statement = (ids_per_statement(backend) / (2 * MUTABLE.len() + 1)).max(1);
    for chunk in rows.chunks(per_statement) {
        let normalized: Vec<missions::Model> = chunk.iter().cloned().map(normalize).collect();
        let mut stmt = Query::update();
        stmt.table(Entity);
        for column in MUTABLE {
            let mut case = CaseStatement::new();
            for m in &normalized {
                case = case.case(Expr::col(Column::Id).eq(m.id), Expr::val(m.get(column)));
            }
            stmt.value(column, case);
        }
        stmt.and_where(Expr::col(Column::Id).is_in(normalized.iter().map(|m| m.id)));
        let result = c.execute(&stmt).await?;
        if result.rows_affected() != normalized.len() as u64 {
            let ids: Vec<Uuid> = normalized.iter().map(|m| m.id).collect();
            let found: Vec<Uuid> = Entity::find()
                .filter(Column::Id.is_in(ids.clone()))
                .all(c)
                .await?
                .into_iter()
                .map(|m| m.id)
                .collect();
            let missing = ids.into_iter().find(|id| !found.contains(id));
            return Err(StoreError::not_found(
                "mission",
                missing.unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

fn normalize(mut m: missions::Model) -> missions::Model {
    m.created_at = to_db_precision(m.created_at);
    m.updated_at = to_db_precision(m.updated_at);
    m.finished_at = m.finished_at.map(to_db_precision);
    m
}

impl Store {
    /// How many missions are in each status (statuses with none are absent).
    pub async fn count_missions_by_status(&self) -> Result<Vec<(String, u64)>, StoreError> {
        #[derive(sea_orm::FromQueryResult)]
        struct Row {
            status: String,
            missions: i64,
        }
        let rows = Entity::find()
            .select_only()
            .column(Column::Status)
            .column_as(Column::Id.count(), "missions")
            .group_by(Column::Status)
            .into_model::<Row>()
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.status, Ord::max(r.missions, 0) as u64))
            .collect())
    }
}
