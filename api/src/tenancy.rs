//! Tenant-scoped reads: each runs in a transaction that names its tenant to
//! PostgreSQL (`set_config('app.tenant_id', …, true)`, i.e. `SET LOCAL`), so the
//! row-level security policy on `missions` (migration 000032) holds even if a query
//! forgot its `tenant_id` filter. On SQLite the transaction only groups the reads.

use rex_store::{DatabaseTransaction, DbBackend, Store, StoreError, missions, steps};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use uuid::Uuid;

/// A read transaction in `tenant`'s name.
pub(crate) async fn begin(store: &Store, tenant: &str) -> Result<DatabaseTransaction, StoreError> {
    let txn = store.conn().begin().await?;
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
