/// What stops a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Broker(#[from] rex_broker::BrokerError),
    #[error(transparent)]
    Store(#[from] rex_store::StoreError),
    /// A task that can never run (malformed); it is dead-lettered.
    #[error("bad task: {0}")]
    BadTask(String),
    /// A checkpoint could not be read or written (after in-process retries).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Shutdown interrupted the attempt; the task goes back to the queue.
    #[error("interrupted by shutdown")]
    Interrupted,
    #[error("unknown agent {name:?} (known: {known})")]
    UnknownAgent { name: String, known: String },
}
