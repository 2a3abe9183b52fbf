//! The crate's error type: what can go wrong while building the agents. Failures of a
//! task are [`rex_workers::StepError`]s, made in [`crate::input`] and [`crate::provider`].

use rex_adapters::ProviderError;

/// Why the agents could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// A provider's settings are present but wrong (a half-configured provider is an
    /// error, never a silent dry-run).
    #[error("agent configuration: {0}")]
    Config(#[from] ProviderError),
    /// One of Rex's own settings is malformed.
    #[error("agent configuration: {name}: {why}")]
    Setting { name: &'static str, why: String },
}
