//! What is in flight: for a driver that skips idle time (simulations, the demo) and
//! follows what the steps did.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{missions, outbox, steps};
use crate::{Store, StoreError, to_db_precision};

/// Work that is under way somewhere: a task published or being run, a mission not yet
/// started, a message not yet relayed. All zero means every mission waits on a timer
/// or a signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Task steps in `running` (a fan-out step waiting on its children is not counted:
    /// the children are).
    pub running_tasks: u64,
    pub pending_missions: u64,
    pub outbox: u64,
}

impl Activity {
    pub fn is_idle(&self) -> bool {
        *self == Activity::default()
    }
}

impl Store {
    /// Counts what is in flight (three indexed or small counts).
    pub async fn activity(&self) -> Result<Activity, StoreError> {
        let c = self.conn();
        let running_tasks = steps::Entity::find()
            .filter(steps::Column::Status.eq("running"))
            .filter(steps::Column::Fanout.is_null())
            .count(c)
            .await?;
        let pending_missions = missions::Entity::find()
            .filter(missions::Column::Status.eq(missions::status::PENDING))
            .count(c)
            .await?;
        let outbox = outbox::Entity::find().count(c).await?;
        Ok(Activity {
            running_tasks,
            pending_missions,
            outbox,
        })
    }

    /// Steps that succeeded at or after `since`, oldest first, at most `limit`. The
    /// caller keeps the ones it has seen: rows finished at the same instant as `since`
    /// come again.
    pub async fn succeeded_steps_since(
        &self,
        since: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<steps::Model>, StoreError> {
        Ok(steps::Entity::find()
            .filter(steps::Column::Status.eq("succeeded"))
            .filter(steps::Column::FinishedAt.gte(to_db_precision(since)))
            .order_by_asc(steps::Column::FinishedAt)
            .order_by_asc(steps::Column::MissionId)
            .order_by_asc(steps::Column::StepId)
            .limit(limit)
            .all(self.conn())
            .await?)
    }
}
