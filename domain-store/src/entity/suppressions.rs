//! `suppressions`: the suppression ledger. Keyed by the hash of the normalized address;
//! `address` is blanked by an erasure, the hash stays.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "suppressions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `rex_domain::Channel`, snake_case.
    pub channel: String,
    pub address: Option<String>,
    /// Hex SHA-256 of the normalized address.
    pub address_hash: String,
    /// `rex_domain::outreach::SuppressionReason`, snake_case.
    pub reason: String,
    pub source_event: String,
    /// Suppressed from this instant on.
    pub suppressed_at: DateTimeUtc,
    /// Lifted by an operator from this instant on.
    pub lifted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
