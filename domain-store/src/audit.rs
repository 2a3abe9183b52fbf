//! The audit log: one row per operation on a tenant's secrets, API keys or personal
//! data, written in the same transaction as the operation (pass the transaction), so
//! an operation and its record commit together.
//!
//! `details` must hold no personal data and no secret value: ids, names, counts and
//! key ids only. [`record_audit`] refuses details that carry a string looking like an
//! email address, the one leak a caller could make by accident.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::audit_log;

/// The actions recorded, as stored in `audit_log.action`.
pub mod actions {
    pub const SECRET_SET: &str = "secret.set";
    pub const SECRET_DELETE: &str = "secret.delete";
    pub const SECRET_ROTATE: &str = "secret.rotate";
    pub const LEAD_EXPORT: &str = "lead.export";
    pub const LEAD_ERASE: &str = "lead.erase";
    pub const API_KEY_CREATE: &str = "api_key.create";
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
}

/// The actor of an operation run from the command line.
pub const CLI_ACTOR: &str = "cli";
/// The most rows [`list_audit`] returns at once.
pub const MAX_AUDIT_PAGE: u64 = 500;

/// An entry to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub tenant_id: Uuid,
    /// The API key's id (as text) or [`CLI_ACTOR`].
    pub actor: String,
    /// One of [`actions`].
    pub action: &'static str,
    pub target: String,
    pub request_id: Option<String>,
    /// Ids, names, counts; never personal data nor secret values.
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Whether any string in `value` looks like an email address.
fn carries_email(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('@'),
        serde_json::Value::Array(items) => items.iter().any(carries_email),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('@') || carries_email(v))
        }
        _ => false,
    }
}

/// Records an entry.
pub async fn record_audit<C>(c: &C, new: NewAudit) -> Result<audit_log::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    if carries_email(&new.details) || new.target.contains('@') {
        return Err(DomainStoreError::Invalid {
            name: "audit details",
            why: "an audit entry must not carry an address".into(),
        });
    }
    let model = audit_log::Model {
        id: Uuid::now_v7(),
        tenant_id: new.tenant_id,
        actor: new.actor,
        action: new.action.to_owned(),
        target: new.target,
        at: rex_store::to_db_precision(new.at),
        request_id: new.request_id,
        details: new.details,
    };
    Ok(audit_log::ActiveModel::from(model).insert(c).await?)
}

/// The tenant's entries newest first, strictly before the entry `before` when given
/// (the cursor of the next page), at most `limit` (capped at [`MAX_AUDIT_PAGE`]).
pub async fn list_audit<C>(
    c: &C,
    tenant_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_log::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut query = audit_log::Entity::find().filter(audit_log::Column::TenantId.eq(tenant_id));
    if let Some(before) = before {
        query = query.filter(audit_log::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(audit_log::Column::Id)
        .limit(limit.min(MAX_AUDIT_PAGE))
        .all(c)
        .await?)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn addresses_are_spotted_anywhere_in_the_details() {
        assert!(super::carries_email(&json!({"a": ["x", "ana@acme.io"]})));
        assert!(super::carries_email(&json!({"ana@acme.io": 1})));
        assert!(!super::carries_email(
            &json!({"name": "sendgrid.api_key", "n": 3})
        ));
    }
}
