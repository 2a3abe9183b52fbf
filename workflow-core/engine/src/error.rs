use rex_broker::BrokerError;
use rex_store::StoreError;

/// What can go wrong in the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A definition failed validation (its message lists every problem).
    #[error("{0}")]
    Invalid(String),
    #[error("definition {name} v{version} not found")]
    DefinitionNotFound { name: String, version: String },
    #[error("mission {0} not found")]
    MissionNotFound(uuid::Uuid),
    /// The request contradicts what is stored (an idempotency key reused for other
    /// input, a retry of a running mission, a step that does not exist).
    #[error("{0}")]
    Conflict(String),
    /// Stored data that this version cannot read (e.g. an unknown status string).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl EngineError {
    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_retryable(),
            EngineError::Broker(e) => e.is_retryable(),
            _ => false,
        }
    }
}
