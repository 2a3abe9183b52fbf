//! Worker checkpoints: a task's idempotency key maps to at most one completed run.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::attempts::{self, Column, Entity, status};
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::batch::{ids_per_statement, insert_models, rows_per_statement};
use crate::{Store, StoreError, now, to_db_precision};

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
    /// A deferral (`status = 'deferred'`): `output` holds `{"until", "reason"}`.
    pub deferred: bool,
}

impl AttemptOutcome {
    /// The attempt asked to run again at `until`.
    pub fn deferred(until: DateTime<Utc>, reason: &str) -> Self {
        Self {
            succeeded: false,
            output: Some(serde_json::json!({"until": until, "reason": reason})),
            error: Some(reason.to_owned()),
            retryable: Some(true),
            deferred: true,
        }
    }
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
}

/// What a worker may do with a task, according to its checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The worker now holds the attempt's lease: run it.
    Run(attempts::Model),
    /// The attempt already finished: answer from this row, run nothing.
    Finished(attempts::Model),
    /// Another worker holds a live lease on it (a duplicate copy of the task): do not
    /// run it; look again after the lease passes.
    Busy(attempts::Model),
    /// The task's mission has ended (cancelled, failed): the queued task is a no-op.
    /// The row is claimed; mark it with [`Store::skip_attempts`].
    MissionEnded(attempts::Model),
}

impl Store {
    /// Claims the attempts of `tasks` for `lease` (one statement for the whole batch,
    /// one round trip more for the tasks not claimed). An attempt is claimed when it
    /// is new, or `running` under a lease that has passed (its worker died). Answers in
    /// the order of `tasks`; a key repeated within the batch is `Busy` after its first.
    pub async fn claim_attempts(
        &self,
        tasks: &[NewAttempt],
        lease: std::time::Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let now = now();
        let lease_until =
            to_db_precision(now + chrono::Duration::from_std(lease).unwrap_or_default());
        let mut seen = HashSet::new();
        let rows: Vec<attempts::Model> = tasks
            .iter()
            .filter(|t| seen.insert(t.key.clone()))
            .map(|t| attempts::Model {
                idempotency_key: t.key.clone(),
                mission_id: t.mission_id,
                step_id: t.step_id.clone(),
                attempt: t.attempt,
                agent: t.agent.clone(),
                status: status::RUNNING.to_owned(),
                output: None,
                error: None,
                retryable: None,
                executions: 0,
                worker: t.worker.clone(),
                lease_until: Some(lease_until),
                started_at: now,
                finished_at: None,
            })
            .collect();
        let mut claimed: HashMap<String, attempts::Model> = HashMap::new();
        let per_statement = rows_per_statement(self.backend(), COLUMNS);
        for chunk in rows.chunks(per_statement) {
            let mut insert = insert_models::<Entity>(chunk)?;
            // Take over only a running attempt whose lease has passed.
            insert.on_conflict(
                OnConflict::column(Column::IdempotencyKey)
                    .update_columns([Column::Worker, Column::LeaseUntil, Column::StartedAt])
                    .action_and_where(
                        Expr::col((Entity, Column::Status))
                            .eq(status::RUNNING)
                            .and(Expr::col((Entity, Column::LeaseUntil)).lt(now)),
                    )
                    .to_owned(),
            );
            insert.returning_all();
            for row in self.conn().query_all(&insert).await? {
                let model = attempts::Model::from_query_result(&row, "")?;
                claimed.insert(model.idempotency_key.clone(), model);
            }
        }
        let others: Vec<String> = rows
            .iter()
            .map(|r| r.idempotency_key.clone())
            .filter(|k| !claimed.contains_key(k))
            .collect();
        let mut existing: HashMap<String, attempts::Model> = HashMap::new();
        for chunk in others.chunks(ids_per_statement(self.backend())) {
            for model in Entity::find()
                .filter(Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                .all(self.conn())
                .await?
            {
                existing.insert(model.idempotency_key.clone(), model);
            }
        }
        // A task of a mission that ended while the task waited in its queue must not run
        // (a lead who replied gets no further email): one query for the whole batch.
        let mut missions: Vec<Uuid> = claimed.values().map(|r| r.mission_id).collect();
        missions.sort_unstable();
        missions.dedup();
        let mut ended: HashSet<Uuid> = HashSet::new();
        for chunk in missions.chunks(ids_per_statement(self.backend())) {
            ended.extend(
                crate::missions::Entity::find()
                    .filter(crate::missions::Column::Id.is_in(chunk.iter().copied()))
                    .filter(crate::missions::Column::Status.ne("running"))
                    .all(self.conn())
                    .await?
                    .into_iter()
                    .map(|m| m.id),
            );
        }
        let mut answered = HashSet::new();
        tasks
            .iter()
            .map(|t| {
                let first = answered.insert(t.key.clone());
                if let Some(row) = claimed.get(&t.key) {
                    return Ok(if !first {
                        Claim::Busy(row.clone())
                    } else if ended.contains(&row.mission_id) {
                        Claim::MissionEnded(row.clone())
                    } else {
                        Claim::Run(row.clone())
                    });
                }
                let row = existing
                    .get(&t.key)
                    .cloned()
                    .ok_or_else(|| StoreError::not_found("attempt", &t.key))?;
                Ok(if row.is_finished() {
                    Claim::Finished(row)
                } else {
                    Claim::Busy(row)
                })
            })
            .collect()
    }

    /// Marks claimed attempts as not run (`skipped`, with `reason`): a redelivered copy is
    /// answered from the row and never runs. `executions` stays 0.
    pub async fn skip_attempts(&self, keys: &[String], reason: &str) -> Result<u64, StoreError> {
        let mut skipped = 0;
        for chunk in keys.chunks(ids_per_statement(self.backend())) {
            skipped += Entity::update_many()
                .col_expr(Column::Status, Expr::value(status::SKIPPED))
                .col_expr(Column::Error, Expr::value(reason))
                .col_expr(Column::Retryable, Expr::value(false))
                .col_expr(
                    Column::LeaseUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(Column::FinishedAt, Expr::value(now()))
                .filter(Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                .filter(Column::Status.eq(status::RUNNING))
                .exec(self.conn())
                .await?
                .rows_affected;
        }
        Ok(skipped)
    }

    /// Renews the leases of the attempts `worker` is running. Returns how many rows
    /// still were this worker's and running.
    pub async fn extend_leases(
        &self,
        worker: &str,
        keys: &[String],
        lease: std::time::Duration,
    ) -> Result<u64, StoreError> {
        let lease_until =
            to_db_precision(now() + chrono::Duration::from_std(lease).unwrap_or_default());
        let mut renewed = 0;
        for chunk in keys.chunks(ids_per_statement(self.backend())) {
            renewed += Entity::update_many()
                .col_expr(Column::LeaseUntil, Expr::value(lease_until))
                .filter(Column::IdempotencyKey.is_in(chunk.iter().cloned()))
                .filter(Column::Worker.eq(worker))
                .filter(Column::Status.eq(status::RUNNING))
                .exec(self.conn())
                .await?
                .rows_affected;
        }
        Ok(renewed)
    }

    /// Of the attempts a worker is running (`(key, mission)` pairs), the keys whose
    /// mission has ended — succeeded, failed or cancelled — so the worker can tell those
    /// steps to stop. A read of `missions` by primary key: one statement for the whole
    /// batch (per few thousand missions), whatever the number of attempts.
    pub async fn attempts_of_ended_missions(
        &self,
        running: &[(String, Uuid)],
    ) -> Result<Vec<String>, StoreError> {
        use crate::missions::{self, status as mission};
        let mut ids: Vec<Uuid> = running.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut ended: HashSet<Uuid> = HashSet::new();
        for chunk in ids.chunks(ids_per_statement(self.backend())) {
            let rows: Vec<Uuid> = missions::Entity::find()
                .select_only()
                .column(missions::Column::Id)
                .filter(missions::Column::Id.is_in(chunk.iter().copied()))
                .filter(missions::Column::Status.is_in([
                    mission::SUCCEEDED,
                    mission::FAILED,
                    mission::CANCELLED,
                ]))
                .into_tuple()
                .all(self.conn())
                .await?;
            ended.extend(rows);
        }
        Ok(running
            .iter()
            .filter(|(_, id)| ended.contains(id))
            .map(|(key, _)| key.clone())
            .collect())
    }

    /// Records finished runs (one statement per batch): each ran from its
    /// `started_at` until now with its outcome. The first outcome recorded for a key
    /// is final; a later run of the same key (a duplicate that ran anyway, e.g. after
    /// its lease passed) only counts its execution, so `executions` above 1 shows a
    /// repeated side effect. Answers, in order, the rows whose outcome is the one to
    /// report.
    pub async fn record_attempts(
        &self,
        runs: &[(NewAttempt, DateTime<Utc>, AttemptOutcome)],
    ) -> Result<Vec<attempts::Model>, StoreError> {
        let finished_at = now();
        let rows: Vec<attempts::Model> = runs
            .iter()
            .map(|(a, started_at, outcome)| attempts::Model {
                idempotency_key: a.key.clone(),
                mission_id: a.mission_id,
                step_id: a.step_id.clone(),
                attempt: a.attempt,
                agent: a.agent.clone(),
                status: if outcome.succeeded {
                    status::SUCCEEDED
                } else if outcome.deferred {
                    status::DEFERRED
                } else {
                    status::FAILED
                }
                .to_owned(),
                output: outcome.output.clone(),
                error: outcome.error.clone(),
                retryable: outcome.retryable,
                executions: 1,
                worker: a.worker.clone(),
                lease_until: None,
                started_at: to_db_precision(*started_at),
                finished_at: Some(finished_at),
            })
            .collect();
        // PostgreSQL refuses to update one row twice in a statement: a key repeated in
        // the batch goes into a later statement.
        let mut recorded: HashMap<String, attempts::Model> = HashMap::new();
        let mut pending: Vec<&attempts::Model> = rows.iter().collect();
        let per_statement = rows_per_statement(self.backend(), COLUMNS);
        while !pending.is_empty() {
            let mut seen = HashSet::new();
            let (now_rows, later): (Vec<&attempts::Model>, Vec<&attempts::Model>) = pending
                .into_iter()
                .partition(|r| seen.insert(r.idempotency_key.clone()));
            for chunk in now_rows.chunks(per_statement) {
                let owned: Vec<attempts::Model> = chunk.iter().map(|r| (*r).clone()).collect();
                let mut insert = insert_models::<Entity>(&owned)?;
                let keep_finished = |column: &str| {
                    Expr::cust(format!(
                        "CASE WHEN attempts.status = 'running' THEN excluded.{column} ELSE attempts.{column} END"
                    ))
                };
                insert.on_conflict(
                    OnConflict::column(Column::IdempotencyKey)
                        .value(Column::Status, keep_finished("status"))
                        .value(Column::Output, keep_finished("output"))
                        .value(Column::Error, keep_finished("error"))
                        .value(Column::Retryable, keep_finished("retryable"))
                        .value(Column::FinishedAt, keep_finished("finished_at"))
                        .value(Column::StartedAt, keep_finished("started_at"))
                        .value(Column::Worker, keep_finished("worker"))
                        .value(Column::LeaseUntil, Expr::cust("NULL"))
                        .value(Column::Executions, Expr::cust("attempts.executions + 1"))
                        .to_owned(),
                );
                insert.returning_all();
                for row in self.conn().query_all(&insert).await? {
                    let model = attempts::Model::from_query_result(&row, "")?;
                    recorded.insert(model.idempotency_key.clone(), model);
                }
            }
            pending = later;
        }
        rows.iter()
            .map(|r| {
                recorded
                    .get(&r.idempotency_key)
                    .cloned()
                    .ok_or_else(|| StoreError::not_found("attempt", &r.idempotency_key))
            })
            .collect()
    }
}

/// Columns of `attempts`, for bind-limit chunking.
const COLUMNS: usize = 15;
