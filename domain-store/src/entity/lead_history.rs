//! `lead_history`: every import and change of a lead, field by field, so that what Rex
//! knew about a lead at any time can be told.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "lead_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    /// `imported` or `updated`.
    pub kind: String,
    /// `{field: {"old": …, "new": …}}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
