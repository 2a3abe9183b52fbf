//! Tenants: created once, found by slug.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::entity::tenants::{self, Column, Entity};

/// Creates a tenant. `slug` is 1 to 63 characters of `a-z`, `0-9` and `-`; a slug
/// already taken is a unique violation ([`DomainStoreError::is_unique_violation`]).
pub async fn create_tenant<C>(
    c: &C,
    slug: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<tenants::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    if !is_valid_slug(slug) {
        return Err(DomainStoreError::Invalid {
            name: "tenant slug",
            why: format!("{slug:?} must be 1 to 63 characters of a-z, 0-9 and -"),
        });
    }
    let model = tenants::Model {
        id: Uuid::now_v7(),
        slug: slug.to_owned(),
        name: name.trim().to_owned(),
        created_at: rex_store::to_db_precision(at),
    };
    Ok(tenants::ActiveModel::from(model).insert(c).await?)
}

pub async fn tenant_by_slug<C>(
    c: &C,
    slug: &str,
) -> Result<Option<tenants::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find().filter(Column::Slug.eq(slug)).one(c).await?)
}

/// The tenant `slug`, created (named after its slug) when it does not exist yet. Two
/// callers racing to create it both get the one row.
pub async fn ensure_tenant<C>(
    c: &C,
    slug: &str,
    at: DateTime<Utc>,
) -> Result<tenants::Model, DomainStoreError>
where
    C: ConnectionTrait,
{
    if let Some(t) = tenant_by_slug(c, slug).await? {
        return Ok(t);
    }
    match create_tenant(c, slug, slug, at).await {
        Ok(t) => Ok(t),
        Err(e) if e.is_unique_violation() => tenant_by_slug(c, slug).await?.ok_or(e),
        Err(e) => Err(e),
    }
}

pub async fn get_tenant<C>(c: &C, id: Uuid) -> Result<Option<tenants::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find_by_id(id).one(c).await?)
}

fn is_valid_slug(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_short_lower_case_words() {
        assert!(super::is_valid_slug("acme-2"));
        assert!(!super::is_valid_slug("Acme"));
        assert!(!super::is_valid_slug(""));
        assert!(!super::is_valid_slug("a b"));
    }
}
