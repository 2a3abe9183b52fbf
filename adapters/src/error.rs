//! The crate's two error types: [`ProviderError`] for calls we make to a
//! provider, [`WebhookError`] for requests a provider makes to us. Both say
//! precisely what went wrong; neither ever carries a credential (provider
//! messages are scrubbed of the configured secrets before they land here).

use crate::provider::Provider;
use std::time::Duration;

/// One field-level complaint from a provider's error list (SendGrid's
/// `errors[].field`, Calendly's `details[].parameter`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<String>,
    pub message: String,
}

/// A failed call to a provider. [`ProviderError::is_retryable`] tells the
/// caller whether the same call may be tried again later.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 429 (or the provider's own rate-limit signal, e.g. Hunter's 403).
    #[error("{provider}: rate limited (http {status}){}: {message}", fmt_retry_after(.retry_after))]
    RateLimited {
        provider: Provider,
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// 5xx or 408: the provider failed, not the request.
    #[error("{provider}: unavailable (http {status}){}: {message}", fmt_retry_after(.retry_after))]
    Unavailable {
        provider: Provider,
        status: u16,
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: the request is wrong and sending it again will not help.
    #[error("{provider}: request rejected (http {status}{}): {message}", fmt_code(.code))]
    Rejected {
        provider: Provider,
        status: u16,
        code: Option<String>,
        message: String,
        fields: Vec<FieldError>,
    },
    /// 401 (403 where it means "forbidden"): the configured credentials are wrong.
    #[error("{provider}: unauthorized (http {status}): check the configured credentials")]
    Unauthorized { provider: Provider, status: u16 },
    /// A plan quota is used up (Hunter's 429): no point retrying until it resets.
    #[error("{provider}: quota exhausted (http {status}): {message}")]
    QuotaExhausted {
        provider: Provider,
        status: u16,
        message: String,
    },
    /// The recipient opted out at the provider (Twilio 21610): suppress this
    /// recipient on every channel and never retry.
    #[error("{provider}: recipient has opted out (code {code}): {message}")]
    RecipientOptedOut {
        provider: Provider,
        code: String,
        message: String,
    },
    /// The provider accepted the request but has no answer yet (Hunter's 202).
    #[error("{provider}: result still pending{}", fmt_retry_after(.retry_after))]
    Pending {
        provider: Provider,
        retry_after: Option<Duration>,
    },
    /// No answer in time. When `outcome_unknown` the request may have reached
    /// the provider (a send): the caller must reconcile, not resend blindly.
    #[error("{provider}: timed out after {}ms{}", .after.as_millis(), if *.outcome_unknown { " (the request may have been processed)" } else { "" })]
    Timeout {
        provider: Provider,
        after: Duration,
        outcome_unknown: bool,
    },
    /// The connection could not be made; nothing was sent.
    #[error("{provider}: connection failed: {detail}")]
    Connect { provider: Provider, detail: String },
    /// The connection broke after the request was written. When
    /// `outcome_unknown` the provider may have acted on it.
    #[error("{provider}: transport error: {detail}{}", if *.outcome_unknown { " (the request may have been processed)" } else { "" })]
    Interrupted {
        provider: Provider,
        detail: String,
        outcome_unknown: bool,
    },
    /// The provider answered with something we cannot read.
    #[error("{provider}: unexpected response: {detail}")]
    InvalidResponse { provider: Provider, detail: String },
    /// The model's answer failed validation (bad JSON, schema mismatch).
    #[error("{provider}: invalid output: {reason}")]
    InvalidOutput { provider: Provider, reason: String },
    /// Our own input is wrong (a bad phone number, a send_at too far ahead).
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// The provider runs in dry-run mode: the request was recorded as entry
    /// `entry` of the dry-run log, not sent, and there is no answer.
    #[error("{provider}: dry run, nothing sent (dry-run log entry {entry})")]
    DryRun { provider: Provider, entry: u64 },
    /// The provider lacks a setting this call needs.
    #[error("{provider}: not configured: {what}")]
    NotConfigured { provider: Provider, what: String },
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", retry after {}s", d.as_secs_f32().ceil() as u64),
        None => String::new(),
    }
}

fn fmt_code(code: &Option<String>) -> String {
    match code {
        Some(c) => format!(", code {c}"),
        None => String::new(),
    }
}

impl ProviderError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Pending { .. }
            | ProviderError::Connect { .. } => true,
            ProviderError::Timeout {
                outcome_unknown, ..
            }
            | ProviderError::Interrupted {
                outcome_unknown, ..
            } => !outcome_unknown,
            _ => false,
        }
    }

    /// The provider's own error code (`21610`, `wrong_params`, …) when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::RateLimited { code, .. }
            | ProviderError::Unavailable { code, .. }
            | ProviderError::Rejected { code, .. } => code.as_deref(),
            ProviderError::RecipientOptedOut { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long the provider asked us to wait, when it said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Unavailable { retry_after, .. }
            | ProviderError::Pending { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status the provider answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ProviderError::RateLimited { status, .. }
            | ProviderError::Unavailable { status, .. }
            | ProviderError::Rejected { status, .. }
            | ProviderError::Unauthorized { status, .. }
            | ProviderError::QuotaExhausted { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the request may have been acted upon although no answer
    /// came back: reconcile before sending again.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ProviderError::Timeout {
                outcome_unknown: true,
                ..
            } | ProviderError::Interrupted {
                outcome_unknown: true,
                ..
            }
        )
    }

    /// True when the recipient must be added to the global suppression list.
    pub fn suppresses_recipient(&self) -> bool {
        matches!(self, ProviderError::RecipientOptedOut { .. })
    }

    /// A short stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Unavailable { .. } => "unavailable",
            ProviderError::Rejected { .. } => "rejected",
            ProviderError::Unauthorized { .. } => "unauthorized",
            ProviderError::QuotaExhausted { .. } => "quota_exhausted",
            ProviderError::RecipientOptedOut { .. } => "recipient_opted_out",
            ProviderError::Pending { .. } => "pending",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Connect { .. } => "connect",
            ProviderError::Interrupted { .. } => "interrupted",
            ProviderError::InvalidResponse { .. } => "invalid_response",
            ProviderError::InvalidOutput { .. } => "invalid_output",
            ProviderError::InvalidInput { .. } => "invalid_input",
            ProviderError::DryRun { .. } => "dry_run",
            ProviderError::NotConfigured { .. } => "not_configured",
        }
    }

    pub(crate) fn invalid_input(field: &'static str, reason: impl Into<String>) -> Self {
        ProviderError::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_response(provider: Provider, detail: impl Into<String>) -> Self {
        ProviderError::InvalidResponse {
            provider,
            detail: detail.into(),
        }
    }
}

/// A webhook request that must be refused. Each failure has its own variant so
/// the HTTP layer can answer 401 for a bad signature and 400 for a bad body,
/// and tests can tell a stale timestamp from a forged signature.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },
    #[error("invalid verification key: {0}")]
    InvalidKey(String),
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("timestamp is {age_secs}s old (tolerance {tolerance_secs}s)")]
    TimestampTooOld { age_secs: i64, tolerance_secs: i64 },
    #[error("timestamp is {ahead_secs}s in the future (tolerance {tolerance_secs}s)")]
    TimestampInFuture {
        ahead_secs: i64,
        tolerance_secs: i64,
    },
    #[error("malformed body: {0}")]
    MalformedBody(String),
    #[error("missing field {0}")]
    MissingField(&'static str),
}

impl WebhookError {
    /// True for failures of authenticity (answer 401/403), false for a
    /// well-signed request whose content we cannot read (answer 400).
    pub fn is_authentication_failure(&self) -> bool {
        !matches!(
            self,
            WebhookError::MalformedBody(_) | WebhookError::MissingField(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_kind_of_failure() {
        let rate = ProviderError::RateLimited {
            provider: Provider::SendGrid,
            status: 429,
            code: None,
            message: "too many requests".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert!(rate.is_retryable());
        assert_eq!(rate.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            rate.to_string(),
            "sendgrid: rate limited (http 429), retry after 3s: too many requests"
        );
        let opted_out = ProviderError::RecipientOptedOut {
            provider: Provider::Twilio,
            code: "21610".into(),
            message: "Attempt to send to unsubscribed recipient".into(),
        };
        assert!(!opted_out.is_retryable());
        assert!(opted_out.suppresses_recipient());
        assert_eq!(opted_out.code(), Some("21610"));
        let send_timeout = ProviderError::Timeout {
            provider: Provider::SendGrid,
            after: Duration::from_millis(500),
            outcome_unknown: true,
        };
        assert!(!send_timeout.is_retryable());
        assert!(send_timeout.to_string().contains("may have been processed"));
    }
}
