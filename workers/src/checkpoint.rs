//! Group commit of worker checkpoints: the claims and outcomes of every task this
//! process handles at the same moment go to the database in one statement each, so
//! a worker running 64 attempts at once pays a few commits per batch, not two per
//! task. With one task in flight a batch is that one task: no added latency.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rex_store::entity::attempts;
use rex_store::{AttemptOutcome, Claim, NewAttempt, Store, StoreError};
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::warn;

use crate::WorkerError;

/// Most operations written in one statement.
const BATCH: usize = 256;
/// Batches written at once: while one commits, the next one gathers.
const PARALLEL: usize = 2;

type Reply<T> = oneshot::Sender<Result<T, WorkerError>>;

enum Op {
    Claim(NewAttempt, Reply<Claim>),
    Record(Run, Reply<attempts::Model>),
}

type Run = (NewAttempt, DateTime<Utc>, AttemptOutcome);

/// A handle to the batching writers. Cheap to clone; the writers stop when every
/// handle is dropped.
#[derive(Clone)]
pub(crate) struct Checkpointer {
    tx: mpsc::Sender<Op>,
}

impl Checkpointer {
    pub(crate) fn start(store: Store, lease: Duration) -> Self {
        let (tx, rx) = mpsc::channel(BATCH * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..PARALLEL {
            tokio::spawn(write_batches(store.clone(), lease, rx.clone()));
        }
        Self { tx }
    }

    /// Claims the task's attempt (see [`Store::claim_attempts`]).
    pub(crate) async fn claim(&self, task: NewAttempt) -> Result<Claim, WorkerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Claim(task, reply)).await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records a finished run (see [`Store::record_attempts`]).
    pub(crate) async fn record(&self, run: Run) -> Result<attempts::Model, WorkerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Op::Record(run, reply)).await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, op: Op) -> Result<(), WorkerError> {
        self.tx.send(op).await.map_err(|_| stopped())
    }
}

fn stopped() -> WorkerError {
    WorkerError::Checkpoint("checkpoint writer stopped".into())
}

async fn write_batches(store: Store, lease: Duration, rx: Arc<Mutex<mpsc::Receiver<Op>>>) {
    loop {
        let ops = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else {
                return;
            };
            let mut ops = vec![first];
            while ops.len() < BATCH {
                match rx.try_recv() {
                    Ok(op) => ops.push(op),
                    Err(_) => break,
                }
            }
            ops
        };
        let mut claims = Vec::new();
        let mut records = Vec::new();
        for op in ops {
            match op {
                Op::Claim(task, reply) => claims.push((task, reply)),
                Op::Record(run, reply) => records.push((run, reply)),
            }
        }
        if !claims.is_empty() {
            let (tasks, replies): (Vec<_>, Vec<_>) = claims.into_iter().unzip();
            let answer = with_retries(|| store.claim_attempts(&tasks, lease)).await;
            reply_all(replies, answer);
        }
        if !records.is_empty() {
            let (runs, replies): (Vec<_>, Vec<_>) = records.into_iter().unzip();
            let answer = with_retries(|| store.record_attempts(&runs)).await;
            reply_all(replies, answer);
        }
    }
}

fn reply_all<T>(replies: Vec<Reply<T>>, answer: Result<Vec<T>, StoreError>) {
    match answer {
        Ok(values) => {
            for (reply, value) in replies.into_iter().zip(values) {
                let _ = reply.send(Ok(value));
            }
        }
        Err(err) => {
            let message = err.to_string();
            for reply in replies {
                let _ = reply.send(Err(WorkerError::Checkpoint(message.clone())));
            }
        }
    }
}

/// Runs a checkpoint write, trying again in-process on transient database errors (a
/// busy SQLite file, a dropped connection) rather than handing tasks back to the
/// broker, whose delivery limit would eventually dead-letter them.
pub(crate) async fn with_retries<T, F, Fut>(mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut delay = Duration::from_millis(20);
    for _ in 0..6 {
        match op().await {
            Err(err) if err.is_retryable() => {
                warn!(error = %err, "checkpoint write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
    op().await
}
