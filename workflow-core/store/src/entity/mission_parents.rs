//! `mission_parents`: which fan-out step started each child mission.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "mission_parents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub child_id: Uuid,
    pub parent_id: Uuid,
    pub parent_step: String,
    /// The parent step's attempt that started the child: a retried fan-out counts only
    /// its own children.
    pub parent_attempt: i32,
    pub item_index: i32,
    /// For an item of a task fan-out: the parent step whose task the child runs.
    pub item_step: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
