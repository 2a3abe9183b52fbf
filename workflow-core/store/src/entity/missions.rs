//! `missions`: one row per workflow instance, pinned to the definition version it
//! started with.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Values of `missions.status`; the state machine in `rex-core` owns their meaning.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";

    /// Whether a mission in `status` has ended (succeeded, failed or cancelled).
    pub fn is_finished(status: &str) -> bool {
        matches!(status, SUCCEEDED | FAILED | CANCELLED)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "missions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub definition_id: Uuid,
    pub definition_name: String,
    pub definition_version: i32,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub input: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub output: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    #[sea_orm(unique, nullable)]
    pub idempotency_key: Option<String>,
    /// W3C `traceparent` of the request that started the mission.
    #[sea_orm(column_type = "Text", nullable)]
    pub trace_context: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// The slug of the tenant the mission belongs to; `default` outside the HTTP API.
    /// Child missions of a fan-out belong to their parent's tenant.
    pub tenant_id: String,
}

/// The tenant of missions started without one (the CLI, `rex dev`).
pub const DEFAULT_TENANT: &str = "default";

impl Model {
    /// Succeeded, failed or cancelled: nothing more will happen to it.
    pub fn is_finished(&self) -> bool {
        status::is_finished(&self.status)
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::definitions::Entity",
        from = "Column::DefinitionId",
        to = "super::definitions::Column::Id",
        on_delete = "Restrict"
    )]
    Definition,
    #[sea_orm(has_many = "super::steps::Entity")]
    Steps,
}

impl Related<super::definitions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Definition.def()
    }
}

impl Related<super::steps::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Steps.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
