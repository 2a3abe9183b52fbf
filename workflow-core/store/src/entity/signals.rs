//! `signals`: what each mission received, deduplicated by the sender's id. A row with no
//! `consumed_by` is buffered for a later `wait_for`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "signals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mission_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub signal_id: String,
    pub name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub received_at: DateTimeUtc,
    /// The step that used it, or `on_signal`.
    #[sea_orm(column_type = "Text", nullable)]
    pub consumed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
