//! Outbound SMS, independent of the provider: E.164 checks, segment
//! counting, the [`SmsSender`] trait and the dry-run sender.

mod segments;

pub use segments::{Encoding, SegmentInfo, count_segments};

use crate::dry_run::{self, Delivery, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::SharedUsageSink;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Twilio refuses bodies longer than this many characters.
pub const MAX_BODY_CHARS: usize = 1600;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundSms {
    /// Rex's message id; rides on the status-callback URL so callbacks join
    /// back to the send. Never personal data.
    pub message_id: String,
    /// E.164, e.g. `+14155550123`.
    pub to: String,
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmsReceipt {
    pub message_id: String,
    /// Twilio's `SM…` sid.
    pub provider_message_id: Option<String>,
    /// The provider's first status (`queued`, `accepted`…).
    pub status: Option<String>,
    pub segments: SegmentInfo,
    pub delivery: Delivery,
}

impl SmsReceipt {
    pub fn is_dry_run(&self) -> bool {
        self.delivery.is_dry_run()
    }
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    fn mode(&self) -> Mode;
    async fn send(&self, sms: &OutboundSms) -> Result<SmsReceipt, ProviderError>;
}

/// True for `+` followed by 2–15 digits, the first not zero.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// Removes the usual punctuation (`+1 (415) 555-0123`) and checks E.164.
pub fn normalize_e164(number: &str) -> Result<String, ProviderError> {
    let compact: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect();
    if is_e164(&compact) {
        Ok(compact)
    } else {
        Err(ProviderError::invalid_input(
            "to",
            "not an E.164 phone number (+ and 2 to 15 digits)",
        ))
    }
}

impl OutboundSms {
    pub fn validate(&self) -> Result<(), ProviderError> {
        if self.message_id.trim().is_empty() {
            return Err(ProviderError::invalid_input(
                "message_id",
                "must not be empty",
            ));
        }
        if !is_e164(&self.to) {
            return Err(ProviderError::invalid_input(
                "to",
                "not an E.164 phone number (+ and 2 to 15 digits)",
            ));
        }
        if self.body.trim().is_empty() {
            return Err(ProviderError::invalid_input("body", "must not be empty"));
        }
        let chars = self.body.chars().count();
        if chars > MAX_BODY_CHARS {
            return Err(ProviderError::invalid_input(
                "body",
                format!("{chars} characters, at most {MAX_BODY_CHARS}"),
            ));
        }
        Ok(())
    }
}

/// Stands in for a provider without credentials: validates like the real sender,
/// records the message, returns [`Delivery::DryRun`] and reports one `send_sms` to
/// `usage`.
#[derive(Clone)]
pub struct DryRunSmsSender {
    provider: Provider,
    log: DryRunLog,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for DryRunSmsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunSmsSender")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl DryRunSmsSender {
    pub fn new(provider: Provider, log: DryRunLog, usage: SharedUsageSink) -> Self {
        Self {
            provider,
            log,
            usage,
        }
    }
}

#[async_trait]
impl SmsSender for DryRunSmsSender {
    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    async fn send(&self, sms: &OutboundSms) -> Result<SmsReceipt, ProviderError> {
        let started = std::time::Instant::now();
        sms.validate()?;
        let segments = count_segments(&sms.body);
        let entry = self.log.record(
            self.provider,
            "send_sms",
            sms.to.clone(),
            vec![
                ("To".to_owned(), sms.to.clone()),
                ("Segments".to_owned(), segments.segments.to_string()),
            ],
            sms.body.clone(),
        );
        tracing::info!(provider = %self.provider, entry, "dry run: sms recorded, not sent");
        self.usage.record(dry_run::usage(
            self.provider,
            operation::SEND_SMS,
            started.elapsed(),
        ));
        Ok(SmsReceipt {
            message_id: sms.message_id.clone(),
            provider_message_id: None,
            status: None,
            segments,
            delivery: Delivery::DryRun { entry },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn e164_numbers_are_plus_and_up_to_fifteen_digits() {
        assert!(is_e164("+14155550123"));
        assert!(is_e164("+442071838750"));
        assert!(!is_e164("14155550123"));
        assert!(!is_e164("+04155550123"));
        assert!(!is_e164("+1415555012345678"));
        assert!(!is_e164("+1 415 555 0123"));
        assert!(!is_e164("+"));
        assert_eq!(normalize_e164("+1 (415) 555-0123").unwrap(), "+14155550123");
        assert!(normalize_e164("call me").is_err());
    }

    #[tokio::test]
    async fn dry_run_sms_is_recorded_with_its_segment_count() {
        let log = DryRunLog::new();
        let usage = crate::UsageLog::new();
        let sender = DryRunSmsSender::new(Provider::Twilio, log.clone(), Arc::new(usage.clone()));
        let receipt = sender
            .send(&OutboundSms {
                message_id: "m1".into(),
                to: "+14155550123".into(),
                body: "a".repeat(200),
            })
            .await
            .unwrap();
        assert!(receipt.is_dry_run());
        assert_eq!(receipt.segments.segments, 2);
        assert_eq!(log.entries()[0].recipient, "+14155550123");
        let records = usage.records();
        assert_eq!(records.len(), 1);
        assert_eq!(
            (records[0].operation, records[0].dry_run),
            ("send_sms", true)
        );
    }

    #[tokio::test]
    async fn dry_run_refuses_what_the_live_sender_would_refuse() {
        let usage = crate::UsageLog::new();
        let sender =
            DryRunSmsSender::new(Provider::Twilio, DryRunLog::new(), Arc::new(usage.clone()));
        let err = sender
            .send(&OutboundSms {
                message_id: "m1".into(),
                to: "4155550123".into(),
                body: "hi".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_input");
        // refused before the call, as the live sender refuses before any request
        assert!(usage.records().is_empty());
    }
}
