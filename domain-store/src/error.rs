//! The crate's one error type.

use rex_store::StoreError;
use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum DomainStoreError {
    /// The database failed or refused; [`DomainStoreError::is_retryable`] tells which.
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{entity} {key} not found")]
    NotFound { entity: &'static str, key: String },

    /// A row holds a value this version does not know (written by a newer version, or
    /// by hand).
    #[error("{table}.{column}: unknown stored value {value:?}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        value: String,
    },

    /// A tenant secret could not be sealed or opened, or secret storage is disabled.
    #[error(transparent)]
    Keyring(#[from] crate::keyring::KeyringError),

    /// An argument no query can satisfy (a negative cap, an empty key).
    #[error("invalid {name}: {why}")]
    Invalid { name: &'static str, why: String },
}

impl From<DbErr> for DomainStoreError {
    fn from(e: DbErr) -> Self {
        DomainStoreError::Store(StoreError::Db(e))
    }
}

impl DomainStoreError {
    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        DomainStoreError::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// Whether running the same call again may succeed (serialization failures,
    /// deadlocks, lost connections, SQLite busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            DomainStoreError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// A unique constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DomainStoreError::Store(e) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// A foreign key refused the write: the referenced row does not exist *for this
    /// tenant* (the domain tables reference each other by `(tenant_id, id)`).
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            DomainStoreError::Store(StoreError::Db(e)) => {
                matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_database_errors_may_be_retried() {
        assert!(!DomainStoreError::not_found("lead", "x").is_retryable());
        assert!(
            DomainStoreError::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout))
                .is_retryable()
        );
    }
}
