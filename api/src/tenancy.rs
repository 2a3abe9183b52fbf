//! Tenant-scoped reads: each runs in a transaction that names its tenant to
//! PostgreSQL (`set_config('app.tenant_id', …, true)`, i.e. `SET LOCAL`), so the
//! row-level security policy on `missions` (migration 000032) holds even if a query
//! forgot its `tenant_id` filter. On SQLite the transaction takes the writer lock
//! up front ([`begin`]).
//!
//! The domain tables (leads, sending domains, mailboxes, the dry-run log, …) are keyed
//! by the tenant's UUID; their policies (migration 000034) map the same slug setting
//! through `tenants.slug`, so one setting guards both. Handlers map the slug to the
//! UUID once per request ([`domain_tenant`]) inside the same transaction.

use rex_domain_store::DomainStoreError;
use rex_store::{
    DatabaseTransaction, DbBackend, Store, StoreError, attempts, missions, steps, timers,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};
use uuid::Uuid;

use crate::error::ApiError;

/// A transaction in `tenant`'s name, for reads and writes. On SQLite it is `BEGIN
/// IMMEDIATE` ([`Store::begin`]): a deferred transaction that read and then wrote could
/// fail half-way with "database is locked" when another connection wrote in between
/// (seen under load as a 503 on adding a domain); on PostgreSQL READ COMMITTED.
pub(crate) async fn begin(store: &Store, tenant: &str) -> Result<DatabaseTransaction, StoreError> {
    let txn = store.begin().await?;
    if store.backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant.into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// `tenant`'s mission `id` (None when it is another tenant's or does not exist).
pub(crate) async fn mission(
    store: &Store,
    tenant: &str,
    id: Uuid,
) -> Result<Option<missions::Model>, StoreError> {
    let txn = begin(store, tenant).await?;
    let found = rex_store::tenant_mission(&txn, tenant, id).await?;
    txn.commit().await?;
    Ok(found)
}

/// `tenant`'s mission `id` with its steps, read together.
pub(crate) async fn mission_with_steps(
    store: &Store,
    tenant: &str,
    id: Uuid,
) -> Result<Option<(missions::Model, Vec<steps::Model>)>, StoreError> {
    let txn = begin(store, tenant).await?;
    let Some(found) = rex_store::tenant_mission(&txn, tenant, id).await? else {
        txn.commit().await?;
        return Ok(None);
    };
    let steps = rex_store::load_steps(&txn, &[id]).await?;
    txn.commit().await?;
    Ok(Some((found, steps)))
}

/// A mission with everything its page shows, read in one transaction.
pub(crate) struct Timeline {
    pub mission: missions::Model,
    pub steps: Vec<steps::Model>,
    pub attempts: Vec<attempts::Model>,
    pub timers: Vec<timers::Model>,
}

/// `tenant`'s mission `id` with its steps, attempts (oldest first) and armed timers
/// (soonest first); `None` when it is another tenant's or does not exist.
///
/// On PostgreSQL one statement: the stored function `rex_mission_timeline` (migration
/// 000039) names the tenant and reads under the same row-level security, in one round
/// trip instead of seven. On SQLite one transaction.
pub(crate) async fn mission_timeline(
    store: &Store,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Timeline>, StoreError> {
    if store.backend() == DbBackend::Postgres {
        return timeline_in_one_statement(store, tenant, id).await;
    }
    let txn = begin(store, tenant).await?;
    let Some(mission) = rex_store::tenant_mission(&txn, tenant, id).await? else {
        txn.commit().await?;
        return Ok(None);
    };
    let steps = rex_store::load_steps(&txn, &[id]).await?;
    let attempts = attempts::Entity::find()
        .filter(attempts::Column::MissionId.eq(id))
        .order_by_asc(attempts::Column::StartedAt)
        .order_by_asc(attempts::Column::Attempt)
        .all(&txn)
        .await?;
    let timers = timers::Entity::find()
        .filter(timers::Column::MissionId.eq(id))
        .order_by_asc(timers::Column::DueAt)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(Timeline {
        mission,
        steps,
        attempts,
        timers,
    }))
}

/// [`mission_timeline`] on PostgreSQL: the function's JSON, its rows spelled by
/// `to_jsonb` with the column names the models' fields carry.
async fn timeline_in_one_statement(
    store: &Store,
    tenant: &str,
    id: Uuid,
) -> Result<Option<Timeline>, StoreError> {
    #[derive(serde::Deserialize)]
    struct Found {
        mission: missions::Model,
        steps: Vec<steps::Model>,
        attempts: Vec<attempts::Model>,
        timers: Vec<timers::Model>,
    }
    let row = store
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT rex_mission_timeline($1, $2) AS found",
            [tenant.into(), id.into()],
        ))
        .await?;
    let Some(json) = row
        .map(|r| r.try_get::<Option<serde_json::Value>>("", "found"))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let found: Found = serde_json::from_value(json).map_err(|e| {
        StoreError::Db(sea_orm::DbErr::Json(format!(
            "rex_mission_timeline of mission {id}: {e}"
        )))
    })?;
    Ok(Some(Timeline {
        mission: found.mission,
        steps: found.steps,
        attempts: found.attempts,
        timers: found.timers,
    }))
}

/// The domain tables' id of the tenant `slug` (`tenants.id`), read in `txn`; `None`
/// when the tenant has no domain row yet (then it has no leads, domains or entries).
pub(crate) async fn domain_tenant<C: ConnectionTrait>(
    txn: &C,
    slug: &str,
) -> Result<Option<Uuid>, DomainStoreError> {
    Ok(rex_domain_store::tenant_by_slug(txn, slug)
        .await?
        .map(|t| t.id))
}

/// The tenant `slug`'s domain id, its row created on first use (the writes that need
/// one: adding a domain, importing leads).
pub(crate) async fn ensure_domain_tenant<C: ConnectionTrait>(
    txn: &C,
    slug: &str,
) -> Result<Uuid, DomainStoreError> {
    Ok(
        rex_domain_store::ensure_tenant(txn, slug, chrono::Utc::now())
            .await?
            .id,
    )
}

impl From<DomainStoreError> for ApiError {
    /// The database's own failures as the engine's store errors are, a refused argument
    /// as 422, a missing row as 404, a missing keyring as 503.
    fn from(err: DomainStoreError) -> Self {
        match err {
            DomainStoreError::Store(e) => e.into(),
            DomainStoreError::NotFound { entity, key } => {
                ApiError::not_found(format!("{entity} {key} not found"))
            }
            DomainStoreError::Invalid { name, why } => {
                ApiError::invalid("invalid_value", format!("invalid {name}: {why}"))
            }
            DomainStoreError::Keyring(rex_domain_store::keyring::KeyringError::Disabled) => {
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "secrets_disabled",
                    "secret storage is not configured on this server (REX_SECRETS_KEYS)",
                )
            }
            DomainStoreError::Keyring(e) => {
                // names a key id at most, never key material or a value
                tracing::error!(error = %e, "tenant secret could not be sealed or opened");
                ApiError::internal()
            }
            DomainStoreError::Corrupt { .. } => {
                tracing::error!(error = %err, "corrupt domain row");
                ApiError::internal()
            }
        }
    }
}
