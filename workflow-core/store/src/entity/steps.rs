//! `steps`: the checkpointed state of each step of a mission, keyed by
//! (mission, step id).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "steps")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mission_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub step_id: String,
    pub status: String,
    pub attempt: i32,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub input: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub output: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub dispatched_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    /// The attempt number before the mission's last retry (0 if never retried).
    pub retry_base: i32,
    /// A fan-out step's counts (`FanState` of the core), as JSON.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub fanout: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::missions::Entity",
        from = "Column::MissionId",
        to = "super::missions::Column::Id",
        on_delete = "Cascade"
    )]
    Mission,
}

impl Related<super::missions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Mission.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
