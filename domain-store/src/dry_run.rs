//! The dry-run log: what a provider stand-in (no credentials configured) would have
//! sent, persisted so that the CLI and the API can show it and so that reconciliation
//! of an intent without a receipt can consult it after the worker process is gone.
//!
//! An entry is a record of a request that was *not* made: nothing here is ever a
//! delivery. The send path writes it right before the receipt, linked to the intent by
//! `message_id`; this is the dry-run equivalent of the provider's own log.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::dry_run_log;

/// The most entries [`list_dry_run`] returns at once.
pub const MAX_DRY_RUN_LIST: u64 = 1_000;

/// One thing a stand-in would have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDryRun {
    /// The `messages` intent it belongs to, when there is one.
    pub message_id: Option<Uuid>,
    /// `sendgrid`, `twilio`…
    pub provider: String,
    /// `send_email`, `send_sms`…
    pub operation: String,
    /// An address, a phone number, a lookup key.
    pub recipient: String,
    /// The headers the real request would have carried (never credentials).
    pub headers: Vec<(String, String)>,
    /// The rendered message or request body.
    pub rendered: String,
    pub at: DateTime<Utc>,
}

/// Which entries [`list_dry_run`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRunFilter {
    pub provider: Option<String>,
    pub message_id: Option<Uuid>,
    /// At most this many, capped at [`MAX_DRY_RUN_LIST`]; 0 returns none.
    pub limit: u64,
    /// Only entries recorded strictly before this instant (paging backwards).
    pub before: Option<DateTime<Utc>>,
}

impl dry_run_log::Model {
    /// The headers as stored, in order.
    pub fn header_pairs(&self) -> Result<Vec<(String, String)>, DomainStoreError> {
        serde_json::from_value(self.headers.clone()).map_err(|_| DomainStoreError::Corrupt {
            table: "dry_run_log",
            column: "headers",
            value: self.headers.to_string(),
        })
    }
}

/// Records what a stand-in would have sent and returns the stored row.
#[tracing::instrument(
    name = "record_dry_run",
    skip_all,
    fields(tenant = %tenant, provider = %entry.provider, operation = %entry.operation),
    err
)]
pub async fn record_dry_run<C>(
    c: &C,
    tenant: Uuid,
    entry: &NewDryRun,
) -> Result<dry_run_log::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    for (name, value) in [
        ("provider", &entry.provider),
        ("operation", &entry.operation),
    ] {
        if value.trim().is_empty() {
            return Err(DomainStoreError::Invalid {
                name,
                why: "is empty".to_owned(),
            });
        }
    }
    let headers = serde_json::to_value(&entry.headers).map_err(|e| DomainStoreError::Invalid {
        name: "headers",
        why: e.to_string(),
    })?;
    let model = dry_run_log::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        message_id: entry.message_id,
        provider: entry.provider.trim().to_owned(),
        operation: entry.operation.trim().to_owned(),
        recipient: entry.recipient.clone(),
        headers,
        rendered: entry.rendered.clone(),
        recorded_at: rex_store::to_db_precision(entry.at),
    };
    Ok(dry_run_log::ActiveModel::from(model).insert(c).await?)
}

/// The tenant's entries matching `filter`, newest first.
#[tracing::instrument(name = "list_dry_run", skip_all, fields(tenant = %tenant), err)]
pub async fn list_dry_run<C>(
    c: &C,
    tenant: Uuid,
    filter: &DryRunFilter,
) -> Result<Vec<dry_run_log::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let limit = filter.limit.min(MAX_DRY_RUN_LIST);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut query = dry_run_log::Entity::find().filter(dry_run_log::Column::TenantId.eq(tenant));
    if let Some(provider) = &filter.provider {
        query = query.filter(dry_run_log::Column::Provider.eq(provider.trim()));
    }
    if let Some(message) = filter.message_id {
        query = query.filter(dry_run_log::Column::MessageId.eq(message));
    }
    if let Some(before) = filter.before {
        query =
            query.filter(dry_run_log::Column::RecordedAt.lt(rex_store::to_db_precision(before)));
    }
    Ok(query
        .order_by_desc(dry_run_log::Column::RecordedAt)
        .order_by_desc(dry_run_log::Column::Id)
        .limit(limit)
        .all(c)
        .await?)
}

/// One entry of the tenant; another tenant's id is `None`, as an unknown one.
#[tracing::instrument(name = "get_dry_run", skip_all, fields(tenant = %tenant, id = %id), err)]
pub async fn get_dry_run<C>(
    c: &C,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<dry_run_log::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(dry_run_log::Entity::find_by_id(id)
        .filter(dry_run_log::Column::TenantId.eq(tenant))
        .one(c)
        .await?)
}

/// A page of [`list_dry_run`] after the entry `(recorded_at, id)` of the previous page
/// (keyset: entries recorded at the same instant are not skipped). `filter.before`
/// still applies.
#[tracing::instrument(name = "list_dry_run_page", skip_all, fields(tenant = %tenant), err)]
pub async fn list_dry_run_page<C>(
    c: &C,
    tenant: Uuid,
    filter: &DryRunFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<Vec<dry_run_log::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let Some((at, id)) = after else {
        return list_dry_run(c, tenant, filter).await;
    };
    let limit = filter.limit.min(MAX_DRY_RUN_LIST);
    if limit == 0 {
        return Ok(Vec::new());
    }
    use dry_run_log::Column;
    let at = rex_store::to_db_precision(at);
    let mut query = dry_run_log::Entity::find()
        .filter(Column::TenantId.eq(tenant))
        .filter(
            sea_orm::Condition::any()
                .add(Column::RecordedAt.lt(at))
                .add(
                    sea_orm::Condition::all()
                        .add(Column::RecordedAt.eq(at))
                        .add(Column::Id.lt(id)),
                ),
        );
    if let Some(provider) = &filter.provider {
        query = query.filter(Column::Provider.eq(provider.trim()));
    }
    if let Some(message) = filter.message_id {
        query = query.filter(Column::MessageId.eq(message));
    }
    if let Some(before) = filter.before {
        query = query.filter(Column::RecordedAt.lt(rex_store::to_db_precision(before)));
    }
    Ok(query
        .order_by_desc(Column::RecordedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(c)
        .await?)
}
