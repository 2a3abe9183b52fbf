//! `definitions`: one immutable row per workflow (name, version).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "definitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub version: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// Canonical JSON of the definition; `content_hash` is the SHA-256 of these bytes.
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub content_hash: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::missions::Entity")]
    Missions,
}

impl Related<super::missions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Missions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
