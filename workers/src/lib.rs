//! The worker side of Rex: the [`Agent`] trait, the runtime that feeds agents from their
//! queues, and the agents themselves.
//!
//! A worker is stateless: everything it must remember lives in the attempt checkpoints
//! (`attempts` table). For each task it looks the idempotency key up first and answers a
//! finished attempt from its checkpoint, so a redelivered task never runs its side effect
//! again; it acks the task only after the checkpoint is committed and the result is
//! confirmed by the broker.

mod agent;
pub mod builtin;
mod checkpoint;
mod error;
mod runtime;

pub use agent::{Agent, Registry, StepError, TaskContext};
pub use error::WorkerError;
pub use runtime::{Worker, WorkerConfig};
