//! `attempts`: a worker's checkpoint per task idempotency key (the AMQP message id).
//! A `running` row is a lease: the worker running the attempt renews it, and a copy of
//! the task (a relay republish, a redelivery after a connection loss) is not run while
//! it holds. A finished row answers every redelivery of its task; the agent never runs
//! again.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Values of `attempts.status`.
pub mod status {
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    /// Asked to run again later; `output` is `{"until", "reason"}`.
    pub const DEFERRED: &str = "deferred";
    /// Not run: the mission had ended (e.g. cancelled) when the task was delivered.
    pub const SKIPPED: &str = "skipped";
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    pub mission_id: Uuid,
    pub step_id: String,
    pub attempt: i32,
    pub agent: String,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub output: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub retryable: Option<bool>,
    /// How many times the agent ran to completion for this key; 1 once finished.
    /// Anything above 1 would be a repeated side effect.
    pub executions: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub worker: Option<String>,
    /// While `running`: the worker holds the attempt until then, and renews it while it
    /// works. A copy of the task that arrives before it passes is not run.
    pub lease_until: Option<DateTimeUtc>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

impl Model {
    pub fn is_finished(&self) -> bool {
        self.status != status::RUNNING
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
