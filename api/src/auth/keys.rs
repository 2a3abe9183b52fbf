//! API keys: made from 192 random bits, shown once, stored as their SHA-256.
//!
//! A key looks like `rex_ab12cd34ef56…` (4 + 48 characters). Its first 12 characters
//! (`rex_` and 8 hex digits) are kept in clear as `prefix`, for listings; the database
//! holds only the hash of the whole key, so a leaked table grants nothing. A plain
//! SHA-256 is enough (no slow KDF): the key is random, not a password, so there is no
//! dictionary to try.

use chrono::Utc;
use rand::RngCore;
use rex_domain_store::{CLI_ACTOR, NewAudit, actions, record_audit};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::entity::{api_keys, tenants};
use super::{KeyError, Scope};
use rex_store::Store;

const KEY_PREFIX: &str = "rex_";
const SECRET_BYTES: usize = 24;
const SHOWN_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

/// A key just created: `key` is the only time the secret is available.
#[derive(Clone)]
pub struct CreatedKey {
    pub id: Uuid,
    pub tenant: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// The whole key, to hand to the client now; it cannot be recovered later.
    pub key: String,
}

/// Never prints the key itself.
impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("prefix", &self.prefix)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Hex SHA-256 of a presented key.
pub(crate) fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `key` has the shape of a Rex key (checked before any database lookup).
pub(crate) fn looks_like_key(key: &str) -> bool {
    key.len() == KEY_PREFIX.len() + 2 * SECRET_BYTES
        && key.starts_with(KEY_PREFIX)
        && key[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn generate() -> String {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret);
    format!("{KEY_PREFIX}{}", hex::encode(secret))
}

/// Creates an API key for tenant `tenant` (a slug), creating the tenant when it does
/// not exist yet (its display name is the slug). Returns the key, shown once. The
/// creation is recorded in the audit log (actor `cli`: keys are made by operators) in
/// the same transaction.
pub async fn create_api_key(
    store: &Store,
    tenant: &str,
    name: &str,
    scopes: &[Scope],
) -> Result<CreatedKey, KeyError> {
    if !is_valid_slug(tenant) {
        return Err(KeyError::InvalidTenant(tenant.to_owned()));
    }
    if scopes.is_empty() {
        return Err(KeyError::NoScopes);
    }
    let tenant_row = ensure_tenant(store, tenant).await?;
    let key = generate();
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let row = api_keys::Model {
        id: Uuid::now_v7(),
        tenant_id: tenant_row.id,
        name: name.trim().to_owned(),
        prefix: key[..SHOWN_PREFIX_LEN].to_owned(),
        hash: hash_key(&key),
        scopes: Scope::join(&scopes),
        created_at: rex_store::now(),
        revoked_at: None,
    };
    let txn = store.begin().await?;
    let row = api_keys::ActiveModel::from(row)
        .insert(&txn)
        .await
        .map_err(rex_store::StoreError::from)?;
    record_audit(
        &txn,
        key_audit(
            row.tenant_id,
            actions::API_KEY_CREATE,
            row.id,
            serde_json::json!({"prefix": row.prefix, "scopes": row.scopes, "name": row.name}),
        ),
    )
    .await?;
    txn.commit().await.map_err(rex_store::StoreError::from)?;
    Ok(CreatedKey {
        id: row.id,
        tenant: tenant.to_owned(),
        prefix: row.prefix,
        scopes,
        key,
    })
}

/// A key as listed: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: Uuid,
    pub name: String,
    /// The key's public head, e.g. `rex_ab12cd34`.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: chrono::DateTime<Utc>,
    pub revoked_at: Option<chrono::DateTime<Utc>>,
}

/// The keys of `tenant`, oldest first, revoked ones included (empty for an unknown
/// tenant).
pub async fn list_api_keys(store: &Store, tenant: &str) -> Result<Vec<KeyInfo>, KeyError> {
    use sea_orm::QueryOrder;
    let Some(tenant) = find_tenant(store, tenant).await? else {
        return Ok(Vec::new());
    };
    let rows = api_keys::Entity::find()
        .filter(api_keys::Column::TenantId.eq(tenant.id))
        .order_by_asc(api_keys::Column::CreatedAt)
        .order_by_asc(api_keys::Column::Id)
        .all(store.conn())
        .await
        .map_err(rex_store::StoreError::from)?;
    Ok(rows
        .into_iter()
        .map(|k| KeyInfo {
            id: k.id,
            scopes: k.scopes.split(',').filter_map(|s| s.parse().ok()).collect(),
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

/// The audit entry of a key's creation or revocation, made by an operator.
fn key_audit(
    tenant_id: Uuid,
    action: &'static str,
    key: Uuid,
    details: serde_json::Value,
) -> NewAudit {
    NewAudit {
        tenant_id,
        actor: CLI_ACTOR.to_owned(),
        action,
        target: key.to_string(),
        request_id: None,
        details,
        at: rex_store::now(),
    }
}

/// Revokes a key of `tenant`: it answers 401 from the next request on. Returns false
/// when the tenant has no such (unrevoked) key. Recorded in the audit log.
pub async fn revoke_api_key(store: &Store, tenant: &str, id: Uuid) -> Result<bool, KeyError> {
    let Some(tenant) = find_tenant(store, tenant).await? else {
        return Ok(false);
    };
    let txn = store.begin().await?;
    let result = api_keys::Entity::update_many()
        .col_expr(
            api_keys::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Some(rex_store::now())),
        )
        .filter(api_keys::Column::Id.eq(id))
        .filter(api_keys::Column::TenantId.eq(tenant.id))
        .filter(api_keys::Column::RevokedAt.is_null())
        .exec(&txn)
        .await
        .map_err(rex_store::StoreError::from)?;
    if result.rows_affected != 1 {
        return Ok(false);
    }
    record_audit(
        &txn,
        key_audit(
            tenant.id,
            actions::API_KEY_REVOKE,
            id,
            serde_json::json!({}),
        ),
    )
    .await?;
    txn.commit().await.map_err(rex_store::StoreError::from)?;
    Ok(true)
}

/// The unrevoked key with this hash, and its tenant.
pub(crate) async fn find_key(
    store: &Store,
    hash: &str,
) -> Result<Option<(api_keys::Model, tenants::Model)>, rex_store::StoreError> {
    // one round trip per request: the key and its tenant together
    let found = api_keys::Entity::find()
        .filter(api_keys::Column::Hash.eq(hash))
        .filter(api_keys::Column::RevokedAt.is_null())
        .find_also_related(tenants::Entity)
        .one(store.conn())
        .await?;
    Ok(found.and_then(|(key, tenant)| tenant.map(|t| (key, t))))
}

async fn find_tenant(store: &Store, slug: &str) -> Result<Option<tenants::Model>, KeyError> {
    Ok(tenants::Entity::find()
        .filter(tenants::Column::Slug.eq(slug))
        .one(store.conn())
        .await
        .map_err(rex_store::StoreError::from)?)
}

async fn ensure_tenant(store: &Store, slug: &str) -> Result<tenants::Model, KeyError> {
    if let Some(found) = find_tenant(store, slug).await? {
        return Ok(found);
    }
    let row = tenants::Model {
        id: Uuid::now_v7(),
        slug: slug.to_owned(),
        name: slug.to_owned(),
        created_at: rex_store::to_db_precision(Utc::now()),
    };
    match tenants::ActiveModel::from(row).insert(store.conn()).await {
        Ok(row) => Ok(row),
        // created concurrently: use the winner's row
        Err(_) => find_tenant(store, slug)
            .await?
            .ok_or_else(|| KeyError::InvalidTenant(slug.to_owned())),
    }
}

/// The tenants table's rule (see `rex-domain-store`): 1 to 63 of `a-z`, `0-9`, `-`.
pub(crate) fn is_valid_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_checked_shape_and_differ() {
        let (a, b) = (generate(), generate());
        assert!(looks_like_key(&a) && looks_like_key(&b));
        assert_ne!(a, b);
        assert!(!looks_like_key("rex_short"));
        assert!(!looks_like_key(&a.to_uppercase()));
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
