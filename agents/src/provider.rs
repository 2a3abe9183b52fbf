//! Provider failures as step errors (docs/agents.md: a provider timeout, 429 or 5xx is
//! retryable; anything else is permanent).

use rex_adapters::ProviderError;
use rex_workers::StepError;

/// Whether the engine should try the step again. Every call these agents make is a
/// read (a lookup, a completion), so a timeout is retryable even when the request may
/// have reached the provider.
pub(crate) fn is_transient(e: &ProviderError) -> bool {
    e.is_retryable()
        || matches!(
            e,
            ProviderError::Timeout { .. } | ProviderError::Interrupted { .. }
        )
}

/// `context: error`, retryable when the failure is transient.
pub(crate) fn step_error(context: &str, e: &ProviderError) -> StepError {
    let message = format!("{context}: {e}");
    if is_transient(e) {
        StepError::retryable(message)
    } else {
        StepError::permanent(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rex_adapters::Provider;
    use std::time::Duration;

    #[test]
    fn rate_limits_outages_and_timeouts_are_retryable_bad_keys_are_not() {
        let unavailable = ProviderError::Unavailable {
            provider: Provider::Hunter,
            status: 503,
            code: None,
            message: "down".into(),
            retry_after: None,
        };
        assert!(step_error("lead-1", &unavailable).retryable);
        let timeout = ProviderError::Timeout {
            provider: Provider::Llm,
            after: Duration::from_secs(1),
            outcome_unknown: true,
        };
        assert!(step_error("lead-1", &timeout).retryable);
        let unauthorized = ProviderError::Unauthorized {
            provider: Provider::Apollo,
            status: 401,
        };
        let err = step_error("lead-1", &unauthorized);
        assert!(!err.retryable);
        assert!(
            err.message.starts_with("lead-1: apollo: unauthorized"),
            "{}",
            err.message
        );
    }
}
