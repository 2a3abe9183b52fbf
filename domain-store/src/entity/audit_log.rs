//! `audit_log`: who did what to a tenant's secrets, keys and personal data. Inserted
//! only; `details` never holds personal data nor secret values.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The API key's id, or `cli`.
    pub actor: String,
    /// One of [`crate::audit::actions`].
    pub action: String,
    /// What was acted on: a secret's name, a lead's or a key's id.
    pub target: String,
    pub at: DateTimeUtc,
    /// The API request's `x-request-id`, when it came through the API.
    pub request_id: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
