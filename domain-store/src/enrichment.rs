//! The enrichment cache: a provider's answer per (tenant, key), reused while younger
//! than [`CACHE_DAYS`] (DOMAIN.md: 30 days) instead of being paid for again.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::enrichment_cache::{self, Column, Entity};
use crate::sql::insert_stmt;

pub use rex_domain::scraper::CACHE_DAYS;

/// The cached answer for `key` if it was fetched less than [`CACHE_DAYS`] before
/// `now` (the same rule as `rex_domain::scraper::is_fresh`).
pub async fn get_fresh_enrichment<C>(
    c: &C,
    tenant_id: Uuid,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<enrichment_cache::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let oldest = now - TimeDelta::days(CACHE_DAYS);
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Key.eq(key))
        .filter(Column::FetchedAt.gt(rex_store::to_db_precision(oldest)))
        .filter(Column::FetchedAt.lte(rex_store::to_db_precision(now)))
        .one(c)
        .await?)
}

/// Stores (or replaces) the answer for `key`.
pub async fn put_enrichment<C>(
    c: &C,
    tenant_id: Uuid,
    key: &str,
    provider: &str,
    payload: serde_json::Value,
    fetched_at: DateTime<Utc>,
) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
{
    let model = enrichment_cache::Model {
        tenant_id,
        key: key.to_owned(),
        provider: provider.to_owned(),
        payload,
        fetched_at: rex_store::to_db_precision(fetched_at),
    };
    let mut insert = insert_stmt::<Entity>(std::slice::from_ref(&model))?;
    insert.on_conflict(
        OnConflict::columns([Column::TenantId, Column::Key])
            .update_columns([Column::Provider, Column::Payload, Column::FetchedAt])
            .to_owned(),
    );
    c.execute(&insert).await?;
    Ok(())
}
