//! How a provider error reads for the send path: did it certainly send nothing, does it
//! refuse the address, what kind is it (for the metric).

use super::*;

/// Whether the provider certainly did not act on the request.
pub(super) fn nothing_sent(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::Connect { .. }
            | ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout {
                outcome_unknown: false,
                ..
            }
            | ProviderError::Interrupted {
                outcome_unknown: false,
                ..
            }
    )
}

/// The ledger reason when a refusal says the address itself is bad or opted out.
pub(super) fn address_refusal(channel: Channel, e: &ProviderError) -> Option<SuppressionReason> {
    match e {
        ProviderError::RecipientOptedOut { .. } => Some(SuppressionReason::SmsStop),
        ProviderError::Rejected { code, fields, .. } => {
            let bad_to = match channel {
                // SendGrid: {"field": "personalizations.0.to.0.email"}
                Channel::Email => fields.iter().any(|f| {
                    f.field.as_deref().is_some_and(|name| {
                        name.starts_with("personalizations") && name.contains(".to.")
                    })
                }),
                // Twilio 21211: invalid 'To' phone number
                _ => code.as_deref() == Some("21211"),
            };
            bad_to.then_some(SuppressionReason::HardBounce)
        }
        _ => None,
    }
}

pub(super) fn error_kind(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::RateLimited { .. } => "rate_limited",
        ProviderError::Unavailable { .. } => "unavailable",
        ProviderError::Rejected { .. } => "rejected",
        ProviderError::Unauthorized { .. } => "unauthorized",
        ProviderError::RecipientOptedOut { .. } => "opted_out",
        ProviderError::Timeout { .. } => "timeout",
        ProviderError::Connect { .. } | ProviderError::Interrupted { .. } => "transport",
        ProviderError::InvalidInput { .. } => "invalid_input",
        _ => "other",
    }
}
