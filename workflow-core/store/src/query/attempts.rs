//! Worker checkpoints: a task's idempotency key maps to at most one completed run.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::attempts::{self, Column, Entity, status};
use crate::batch::insert_models;
use crate::{Store, StoreError, now};

/// A task a worker is about to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAttempt {
    /// The task's idempotency key (the AMQP message id).
    pub key: String,
    pub mission_id: Uuid,
    pub step_id: String,
    pub attempt: i32,
    pub agent: String,
    /// Which worker runs it (pod name), for operators.
    pub worker: Option<String>,
}

/// How the agent's run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptOutcome {
    pub succeeded: bool,
    pub output: Option<serde_json::Value>,
    pub error: Option<String>,
    /// For a failure: whether the orchestrator may retry the step.
    pub retryable: Option<bool>,
}

impl Store {
    pub async fn get_attempt(&self, key: &str) -> Result<Option<attempts::Model>, StoreError> {
        Ok(Entity::find_by_id(key.to_owned()).one(self.conn()).await?)
    }

    /// Every attempt checkpoint of a mission, oldest first: the retry history of its
    /// steps as the workers saw it.
    pub async fn mission_attempts(
        &self,
        mission_id: Uuid,
    ) -> Result<Vec<attempts::Model>, StoreError> {
        Ok(Entity::find()
            .filter(Column::MissionId.eq(mission_id))
            .order_by_asc(Column::StartedAt)
            .order_by_asc(Column::Attempt)
            .all(self.conn())
            .await?)
    }

    /// Records that a task is starting, unless its key is already known; returns the
    /// row either way. A returned row that [`attempts::Model::is_finished`] must be
    /// answered from its checkpoint and not run again; a `running` row left by a
    /// crashed worker is returned unchanged and may be run again.
    pub async fn begin_attempt(&self, a: NewAttempt) -> Result<attempts::Model, StoreError> {
        let row = attempts::Model {
            idempotency_key: a.key,
            mission_id: a.mission_id,
            step_id: a.step_id,
            attempt: a.attempt,
            agent: a.agent,
            status: status::RUNNING.to_owned(),
            output: None,
            error: None,
            retryable: None,
            executions: 0,
            worker: a.worker,
            started_at: now(),
            finished_at: None,
        };
        let mut insert = insert_models::<Entity>(std::slice::from_ref(&row))?;
        insert.on_conflict(
            OnConflict::column(Column::IdempotencyKey)
                .do_nothing()
                .to_owned(),
        );
        self.conn().execute(&insert).await?;
        self.get_attempt(&row.idempotency_key)
            .await?
            .ok_or_else(|| StoreError::not_found("attempt", &row.idempotency_key))
    }

    /// Records the outcome of a running attempt and counts the execution. A finished
    /// attempt is never overwritten: finishing it again returns the first outcome.
    pub async fn finish_attempt(
        &self,
        key: &str,
        outcome: AttemptOutcome,
    ) -> Result<attempts::Model, StoreError> {
        let status = if outcome.succeeded {
            status::SUCCEEDED
        } else {
            status::FAILED
        };
        Entity::update_many()
            .col_expr(Column::Status, Expr::value(status))
            .col_expr(Column::Output, Expr::value(outcome.output))
            .col_expr(Column::Error, Expr::value(outcome.error))
            .col_expr(Column::Retryable, Expr::value(outcome.retryable))
            .col_expr(Column::FinishedAt, Expr::value(now()))
            .col_expr(Column::Executions, Expr::col(Column::Executions).add(1))
            .filter(Column::IdempotencyKey.eq(key))
            .filter(Column::Status.eq(status::RUNNING))
            .exec(self.conn())
            .await?;
        self.get_attempt(key)
            .await?
            .ok_or_else(|| StoreError::not_found("attempt", key))
    }
}
