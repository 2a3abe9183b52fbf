//! Tenant secrets: each tenant's provider credentials, sealed by the [`Keyring`]
//! before they reach the database and opened only by [`get_secret`], for the code that
//! builds a provider client. Listings give names, key ids and times, never values.
//!
//! Names come from a closed list ([`SECRET_NAMES`]), so a typo is refused rather than
//! stored where nothing reads it. [`rotate_secrets`] re-seals every value not under
//! the keyring's active key, in batches, each batch one transaction; a rotation that
//! stops half-way is finished by running it again.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::audit::{NewAudit, actions, record_audit};
use crate::entity::tenant_secrets::{self, Column, Entity};
use crate::keyring::{Keyring, Sealed};
use crate::sql::insert_stmt;

/// The secrets a tenant may store: one per provider credential the adapters read, and
/// the keys its providers sign their webhooks with (`twilio.auth_token` signs Twilio's).
pub const SECRET_NAMES: [&str; 10] = [
    "sendgrid.api_key",
    "sendgrid.webhook_public_key",
    "twilio.account_sid",
    "twilio.auth_token",
    "calendly.token",
    "calendly.webhook_signing_key",
    "enrichment.apollo_api_key",
    "enrichment.hunter_api_key",
    "llm.api_key",
    "llm.base_url",
];

/// The longest value stored, in bytes (credentials are short; this bounds a mistake).
pub const MAX_SECRET_LEN: usize = 4096;
/// Rows re-sealed per transaction by [`rotate_secrets`].
pub const ROTATE_BATCH: u64 = 200;

/// Refuses a name outside [`SECRET_NAMES`].
pub fn validate_secret_name(name: &str) -> Result<(), DomainStoreError> {
    if SECRET_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(DomainStoreError::Invalid {
            name: "secret name",
            why: format!("{name:?} is not one of {}", SECRET_NAMES.join(", ")),
        })
    }
}

/// Refuses an empty or oversized value (never quoting it).
pub fn validate_secret_value(value: &str) -> Result<(), DomainStoreError> {
    if value.trim().is_empty() {
        return Err(DomainStoreError::Invalid {
            name: "secret value",
            why: "it is empty".into(),
        });
    }
    if value.len() > MAX_SECRET_LEN {
        return Err(DomainStoreError::Invalid {
            name: "secret value",
            why: format!("it is over {MAX_SECRET_LEN} bytes"),
        });
    }
    Ok(())
}

/// An opened secret: `Debug` and `Display` print `[redacted]`, and it is not
/// `Serialize`; [`SecretValue::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A stored secret as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    pub name: String,
    /// The keyring key that sealed it.
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tenant_secrets::Model> for SecretInfo {
    fn from(m: tenant_secrets::Model) -> Self {
        SecretInfo {
            name: m.name,
            key_id: m.key_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Seals and stores `value` as the tenant's secret `name`, replacing any earlier value.
pub async fn put_secret<C>(
    c: &C,
    keyring: &Keyring,
    tenant_id: Uuid,
    name: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Result<SecretInfo, DomainStoreError>
where
    C: ConnectionTrait,
{
    validate_secret_name(name)?;
    validate_secret_value(value)?;
    let sealed = keyring.seal(tenant_id, name, value.as_bytes())?;
    let at = rex_store::to_db_precision(at);
    let model = tenant_secrets::Model {
        id: Uuid::now_v7(),
        tenant_id,
        name: name.to_owned(),
        key_id: sealed.key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        created_at: at,
        updated_at: at,
    };
    let mut insert = insert_stmt::<Entity>(std::slice::from_ref(&model))?;
    insert.on_conflict(
        OnConflict::columns([Column::TenantId, Column::Name])
            .update_columns([
                Column::KeyId,
                Column::Nonce,
                Column::Ciphertext,
                Column::UpdatedAt,
            ])
            .to_owned(),
    );
    c.execute(&insert).await?;
    secret_row(c, tenant_id, name)
        .await?
        .map(SecretInfo::from)
        .ok_or_else(|| DomainStoreError::not_found("secret", name))
}

async fn secret_row<C>(
    c: &C,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<tenant_secrets::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Name.eq(name))
        .one(c)
        .await?)
}

/// The tenant's secret `name`, opened; `None` when it has none.
pub async fn get_secret<C>(
    c: &C,
    keyring: &Keyring,
    tenant_id: Uuid,
    name: &str,
) -> Result<Option<SecretValue>, DomainStoreError>
where
    C: ConnectionTrait,
{
    validate_secret_name(name)?;
    let Some(row) = secret_row(c, tenant_id, name).await? else {
        return Ok(None);
    };
    let clear = keyring.open(tenant_id, name, &sealed_of(&row))?;
    let text = String::from_utf8(clear).map_err(|_| DomainStoreError::Corrupt {
        table: "tenant_secrets",
        column: "ciphertext",
        value: format!("{name}: not UTF-8 once opened"),
    })?;
    Ok(Some(SecretValue(text)))
}

fn sealed_of(row: &tenant_secrets::Model) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce: row.nonce.clone(),
        ciphertext: row.ciphertext.clone(),
    }
}

/// The tenant's secrets by name, without values.
pub async fn list_secrets<C>(c: &C, tenant_id: Uuid) -> Result<Vec<SecretInfo>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .order_by_asc(Column::Name)
        .all(c)
        .await?
        .into_iter()
        .map(SecretInfo::from)
        .collect())
}

/// Deletes the tenant's secret `name`; `false` when it had none.
pub async fn delete_secret<C>(c: &C, tenant_id: Uuid, name: &str) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    validate_secret_name(name)?;
    let deleted = Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Name.eq(name))
        .exec(c)
        .await?
        .rows_affected;
    Ok(deleted == 1)
}

/// What [`rotate_secrets`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// The key every value is now sealed under.
    pub active_key_id: String,
    /// Values re-sealed, per tenant.
    pub rotated: BTreeMap<Uuid, u64>,
    /// Transactions committed.
    pub batches: u64,
}

impl RotationReport {
    pub fn total(&self) -> u64 {
        self.rotated.values().sum()
    }
}

/// Re-seals every secret (of every tenant) not under the keyring's active key, in
/// batches of `batch` rows, each one transaction that also records a `secret.rotate`
/// audit entry per tenant it touched (`actor`). Idempotent: nothing to do once every
/// value is under the active key. A value whose key is missing from the keyring stops
/// the rotation with [`crate::keyring::KeyringError::UnknownKey`] naming it; the
/// batches before it stay committed.
pub async fn rotate_secrets<C>(
    c: &C,
    keyring: &Keyring,
    batch: u64,
    actor: &str,
) -> Result<RotationReport, DomainStoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let active = keyring.active_key_id().to_owned();
    let mut report = RotationReport {
        active_key_id: active.clone(),
        ..RotationReport::default()
    };
    let batch = batch.max(1);
    let mut after: Option<Uuid> = None;
    loop {
        let txn = c.begin().await?;
        let mut query = Entity::find().filter(Column::KeyId.ne(active.as_str()));
        if let Some(after) = after {
            query = query.filter(Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(Column::Id)
            .limit(batch)
            .lock_exclusive()
            .all(&txn)
            .await?;
        let Some(last) = rows.last() else {
            txn.commit().await?;
            return Ok(report);
        };
        after = Some(last.id);
        let full = rows.len() as u64 == batch;
        let mut per_tenant: BTreeMap<Uuid, (u64, Vec<String>)> = BTreeMap::new();
        for row in rows {
            let clear = keyring.open(row.tenant_id, &row.name, &sealed_of(&row))?;
            let sealed = keyring.seal(row.tenant_id, &row.name, &clear)?;
            // only if no one re-sealed it meanwhile (same key as read)
            let updated = Entity::update_many()
                .col_expr(Column::KeyId, Expr::value(sealed.key_id))
                .col_expr(Column::Nonce, Expr::value(sealed.nonce))
                .col_expr(Column::Ciphertext, Expr::value(sealed.ciphertext))
                .filter(Column::Id.eq(row.id))
                .filter(Column::KeyId.eq(row.key_id.as_str()))
                .exec(&txn)
                .await?
                .rows_affected;
            if updated == 1 {
                let entry = per_tenant.entry(row.tenant_id).or_default();
                entry.0 += 1;
                entry.1.push(format!("{}:{}", row.name, row.key_id));
            }
        }
        let now = rex_store::now();
        for (tenant_id, (count, names)) in &per_tenant {
            record_audit(
                &txn,
                NewAudit {
                    tenant_id: *tenant_id,
                    actor: actor.to_owned(),
                    action: actions::SECRET_ROTATE,
                    target: active.clone(),
                    request_id: None,
                    details: serde_json::json!({
                        "to_key_id": active,
                        "count": count,
                        "secrets": names,
                    }),
                    at: now,
                },
            )
            .await?;
        }
        txn.commit().await?;
        report.batches += 1;
        for (tenant_id, (count, _)) in per_tenant {
            *report.rotated.entry(tenant_id).or_default() += count;
        }
        if !full {
            return Ok(report);
        }
    }
}

/// How many stored values are sealed under each key id (what `rex secrets list`
/// shows before removing an old key).
pub async fn secrets_per_key<C>(c: &C) -> Result<BTreeMap<String, u64>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let mut out = BTreeMap::new();
    for key_id in Entity::find()
        .select_only()
        .column(Column::KeyId)
        .into_tuple::<String>()
        .all(c)
        .await?
    {
        *out.entry(key_id).or_default() += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_a_closed_list_and_values_are_not_quoted() {
        assert!(validate_secret_name("twilio.auth_token").is_ok());
        let err = validate_secret_name("twilio.password").unwrap_err();
        assert!(err.to_string().contains("sendgrid.api_key"), "{err}");
        assert!(validate_secret_value("  ").is_err());
        let long = "s".repeat(MAX_SECRET_LEN + 1);
        let err = validate_secret_value(&long).unwrap_err();
        assert!(!err.to_string().contains(&long));
        assert_eq!(
            format!("{:?} {}", SecretValue("x".into()), SecretValue("x".into())),
            "SecretValue([redacted]) [redacted]"
        );
    }
}
