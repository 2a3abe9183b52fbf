//! What each agent has to do and how it went: tasks waiting in a queue or being run,
//! and recent attempt outcomes. For the operators' view (`GET /v1/agents`) and the
//! queue-age gauge; RabbitMQ does not say how old a queue's oldest message is over
//! AMQP, the checkpoints do.

use chrono::{DateTime, Utc};
use sea_orm::{FromQueryResult, Statement};
use uuid::Uuid;

use crate::{Store, StoreError, to_db_precision};

/// The task steps of one (definition, step) that were dispatched and have not
/// finished. The step's agent is in its definition, which the store does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskBacklog {
    pub definition_id: Uuid,
    pub step_id: String,
    /// Dispatched, no worker has claimed them yet: waiting in the agent's queue (or in
    /// the outbox on the way there).
    pub queued: u64,
    /// Claimed by a worker that is running them now.
    pub running: u64,
    /// When the longest-waiting of the `queued` ones was dispatched.
    pub oldest_queued_at: Option<DateTime<Utc>>,
}

/// How many attempts of one agent ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptTally {
    pub agent: String,
    /// `succeeded`, `failed`, `deferred` or `skipped`.
    pub status: String,
    pub attempts: u64,
}

/// A task step is queued while it is `running` (dispatched) and its current attempt has
/// no checkpoint row; a worker writes that row when it claims the task.
const BACKLOG: &str = "
SELECT m.definition_id AS definition_id,
       s.step_id AS step_id,
       SUM(CASE WHEN a.idempotency_key IS NULL THEN 1 ELSE 0 END) AS queued,
       SUM(CASE WHEN a.status = 'running' THEN 1 ELSE 0 END) AS running,
       MIN(CASE WHEN a.idempotency_key IS NULL THEN s.dispatched_at END) AS oldest_queued_at
FROM steps s
JOIN missions m ON m.id = s.mission_id
LEFT JOIN attempts a
       ON a.mission_id = s.mission_id AND a.step_id = s.step_id AND a.attempt = s.attempt
WHERE s.status = 'running' AND s.fanout IS NULL
GROUP BY m.definition_id, s.step_id";

#[derive(FromQueryResult)]
struct BacklogRow {
    definition_id: Uuid,
    step_id: String,
    queued: Option<i64>,
    running: Option<i64>,
    oldest_queued_at: Option<DateTime<Utc>>,
}

#[derive(FromQueryResult)]
struct TallyRow {
    agent: String,
    status: String,
    attempts: i64,
}

fn count(n: Option<i64>) -> u64 {
    n.map_or(0, |n| n.max(0) as u64)
}

impl Store {
    /// Unfinished task steps per (definition, step): one grouped read over the running
    /// steps (indexed by status) and their attempts (by mission).
    pub async fn task_backlog(&self) -> Result<Vec<TaskBacklog>, StoreError> {
        let backend = self.conn().get_database_backend();
        let rows = BacklogRow::find_by_statement(Statement::from_string(backend, BACKLOG))
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| TaskBacklog {
                definition_id: r.definition_id,
                step_id: r.step_id,
                queued: count(r.queued),
                running: count(r.running),
                oldest_queued_at: r.oldest_queued_at,
            })
            .collect())
    }

    /// Attempts that finished at or after `since`, counted per agent and outcome.
    pub async fn attempt_tallies_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<AttemptTally>, StoreError> {
        let backend = self.conn().get_database_backend();
        let sql = format!(
            "SELECT agent, status, COUNT(*) AS attempts FROM attempts \
             WHERE finished_at >= {} GROUP BY agent, status",
            match backend {
                sea_orm::DbBackend::Postgres => "$1",
                _ => "?",
            }
        );
        let rows = TallyRow::find_by_statement(Statement::from_sql_and_values(
            backend,
            sql,
            [to_db_precision(since).into()],
        ))
        .all(self.conn())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AttemptTally {
                agent: r.agent,
                status: r.status,
                attempts: count(Some(r.attempts)),
            })
            .collect())
    }
}
