//! Outbound email, independent of the provider: the message types, the
//! [`EmailSender`] trait the outreach agent calls, the checks every outreach
//! email must pass (a one-click unsubscribe, a bounded `send_at`), and the
//! dry-run sender.

use crate::dry_run::{self, Delivery, DryRunLog, Mode};
use crate::error::ProviderError;
use crate::operation;
use crate::provider::Provider;
use crate::usage::SharedUsageSink;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// The furthest ahead SendGrid accepts a scheduled send.
pub const MAX_SEND_AT_AHEAD: chrono::Duration = chrono::Duration::hours(72);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Mailbox {
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: None,
        }
    }

    pub fn named(email: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: Some(name.into()),
        }
    }

    /// `"Name" <address>` or the bare address.
    pub fn render(&self) -> String {
        match &self.name {
            Some(name) => format!("\"{}\" <{}>", name.replace('"', "'"), self.email),
            None => self.email.clone(),
        }
    }
}

/// The opt-out targets of one message (RFC 8058 one-click unsubscribe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// HTTPS endpoint that accepts `POST List-Unsubscribe=One-Click`.
    pub url: String,
    /// Optional `mailto:` fallback for older clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailto: Option<String>,
}

impl Unsubscribe {
    pub fn one_click(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            mailto: None,
        }
    }

    /// The `List-Unsubscribe` and `List-Unsubscribe-Post` headers.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut targets = format!("<{}>", self.url);
        if let Some(mailto) = &self.mailto {
            let mailto = mailto.strip_prefix("mailto:").unwrap_or(mailto);
            targets.push_str(&format!(", <mailto:{mailto}>"));
        }
        vec![
            ("List-Unsubscribe".to_owned(), targets),
            (
                "List-Unsubscribe-Post".to_owned(),
                "List-Unsubscribe=One-Click".to_owned(),
            ),
        ]
    }

    fn validate(&self) -> Result<(), ProviderError> {
        // RFC 8058 requires an HTTPS URI for one-click; Gmail ignores others.
        let parsed = url::Url::parse(&self.url)
            .map_err(|e| ProviderError::invalid_input("unsubscribe.url", e.to_string()))?;
        if parsed.scheme() != "https" {
            return Err(ProviderError::invalid_input(
                "unsubscribe.url",
                format!("must be https, got {}", parsed.scheme()),
            ));
        }
        if self.url.contains(['<', '>', ',', '\r', '\n']) {
            return Err(ProviderError::invalid_input(
                "unsubscribe.url",
                "must not contain '<', '>', ',' or line breaks",
            ));
        }
        Ok(())
    }
}

/// One outreach email, fully rendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundEmail {
    /// Rex's message id: travels in `custom_args` and comes back in every
    /// webhook event, so events join to the send. Never personal data.
    pub message_id: String,
    pub from: Mailbox,
    #[serde(default)]
    pub reply_to: Option<Mailbox>,
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
    /// Required: every outreach email carries a one-click unsubscribe.
    pub unsubscribe: Unsubscribe,
    /// Scheduled delivery, at most 72 h ahead.
    #[serde(default)]
    pub send_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// The same content sent to many recipients, with per-recipient
/// substitutions (`-first_name-` style keys, replaced by the provider).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailBatch {
    pub from: Mailbox,
    #[serde(default)]
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub recipients: Vec<BatchRecipient>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecipient {
    pub message_id: String,
    pub to: Mailbox,
    pub unsubscribe: Unsubscribe,
    #[serde(default)]
    pub substitutions: BTreeMap<String, String>,
    #[serde(default)]
    pub send_at: Option<DateTime<Utc>>,
}

/// What a sender did with one message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmailReceipt {
    pub message_id: String,
    /// SendGrid's `X-Message-Id`, the prefix of `sg_message_id` in events.
    pub provider_message_id: Option<String>,
    pub delivery: Delivery,
}

impl EmailReceipt {
    pub fn is_dry_run(&self) -> bool {
        self.delivery.is_dry_run()
    }
}

/// The result of a batch that passed validation. Requests go out one after
/// another, so a failure part-way leaves some recipients sent (in
/// `receipts`) and the rest in `failed`.
#[derive(Debug)]
pub struct BatchOutcome {
    pub receipts: Vec<EmailReceipt>,
    pub failed: Option<BatchFailure>,
}

/// The recipients a batch did not get through, and why. When
/// `error.outcome_unknown()`, the first request of `message_ids` may have
/// been delivered: reconcile before resending.
#[derive(Debug)]
pub struct BatchFailure {
    pub error: ProviderError,
    pub message_ids: Vec<String>,
}

#[async_trait]
pub trait EmailSender: Send + Sync {
    fn mode(&self) -> Mode;
    async fn send(&self, email: &OutboundEmail) -> Result<EmailReceipt, ProviderError>;
    /// Sends a batch, split into provider-sized requests. `Err` only when the
    /// batch is refused before anything is sent.
    async fn send_batch(&self, batch: &EmailBatch) -> Result<BatchOutcome, ProviderError>;
}

fn validate_address(field: &'static str, email: &str) -> Result<(), ProviderError> {
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(ProviderError::invalid_input(field, "not an email address"))
    }
}

pub(crate) fn validate_send_at(
    send_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    match send_at {
        Some(at) if at > now + MAX_SEND_AT_AHEAD => Err(ProviderError::invalid_input(
            "send_at",
            format!("{at} is more than 72h ahead"),
        )),
        _ => Ok(()),
    }
}

fn validate_common(
    message_id: &str,
    to: &Mailbox,
    unsubscribe: &Unsubscribe,
    send_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    if message_id.trim().is_empty() {
        return Err(ProviderError::invalid_input(
            "message_id",
            "must not be empty",
        ));
    }
    validate_address("to", &to.email)?;
    unsubscribe.validate()?;
    validate_send_at(send_at, now)
}

impl OutboundEmail {
    /// The checks every sender (live or dry-run) applies before sending.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ProviderError> {
        validate_address("from", &self.from.email)?;
        if self.subject.trim().is_empty() {
            return Err(ProviderError::invalid_input("subject", "must not be empty"));
        }
        validate_common(
            &self.message_id,
            &self.to,
            &self.unsubscribe,
            self.send_at,
            now,
        )
    }

    /// Every header the message carries besides From/To/Subject.
    pub fn extra_headers(&self) -> Vec<(String, String)> {
        self.unsubscribe.headers()
    }

    /// A readable rendering for the dry-run log.
    pub fn render(&self) -> String {
        let mut out = format!(
            "From: {}\nTo: {}\nSubject: {}\n",
            self.from.render(),
            self.to.render(),
            self.subject
        );
        if let Some(reply_to) = &self.reply_to {
            out.push_str(&format!("Reply-To: {}\n", reply_to.render()));
        }
        for (name, value) in self.extra_headers() {
            out.push_str(&format!("{name}: {value}\n"));
        }
        if let Some(at) = self.send_at {
            out.push_str(&format!("X-Send-At: {}\n", at.to_rfc3339()));
        }
        out.push('\n');
        out.push_str(&self.text);
        out
    }
}

impl EmailBatch {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ProviderError> {
        validate_address("from", &self.from.email)?;
        if self.subject.trim().is_empty() {
            return Err(ProviderError::invalid_input("subject", "must not be empty"));
        }
        for recipient in &self.recipients {
            validate_common(
                &recipient.message_id,
                &recipient.to,
                &recipient.unsubscribe,
                recipient.send_at,
                now,
            )?;
        }
        Ok(())
    }

    /// The message one recipient would get, substitutions applied.
    pub fn for_recipient(&self, recipient: &BatchRecipient) -> OutboundEmail {
        let substitute = |text: &str| {
            recipient
                .substitutions
                .iter()
                .fold(text.to_owned(), |acc, (key, value)| acc.replace(key, value))
        };
        OutboundEmail {
            message_id: recipient.message_id.clone(),
            from: self.from.clone(),
            reply_to: self.reply_to.clone(),
            to: recipient.to.clone(),
            subject: substitute(&self.subject),
            text: substitute(&self.text),
            html: self.html.as_deref().map(substitute),
            unsubscribe: recipient.unsubscribe.clone(),
            send_at: recipient.send_at,
            categories: self.categories.clone(),
        }
    }
}

/// Stands in for a provider without credentials: validates like the real
/// sender, records the rendered message, returns [`Delivery::DryRun`], and
/// reports each call to `usage` as the live sender would (one `send_email`
/// per message, one `send_email_batch` per request a batch would have made).
#[derive(Clone)]
pub struct DryRunEmailSender {
    provider: Provider,
    log: DryRunLog,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for DryRunEmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DryRunEmailSender")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl DryRunEmailSender {
    pub fn new(provider: Provider, log: DryRunLog, usage: SharedUsageSink) -> Self {
        Self {
            provider,
            log,
            usage,
        }
    }

    fn record(&self, email: &OutboundEmail) -> EmailReceipt {
        let mut headers = vec![
            ("From".to_owned(), email.from.render()),
            ("To".to_owned(), email.to.render()),
            ("Subject".to_owned(), email.subject.clone()),
        ];
        headers.extend(email.extra_headers());
        let entry = self.log.record(
            self.provider,
            "send_email",
            email.to.email.clone(),
            headers,
            email.render(),
        );
        tracing::info!(provider = %self.provider, entry, "dry run: email recorded, not sent");
        EmailReceipt {
            message_id: email.message_id.clone(),
            provider_message_id: None,
            delivery: Delivery::DryRun { entry },
        }
    }
}

#[async_trait]
impl EmailSender for DryRunEmailSender {
    fn mode(&self) -> Mode {
        Mode::DryRun
    }

    async fn send(&self, email: &OutboundEmail) -> Result<EmailReceipt, ProviderError> {
        let started = Instant::now();
        email.validate(Utc::now())?;
        let receipt = self.record(email);
        self.usage.record(dry_run::usage(
            self.provider,
            operation::SEND_EMAIL,
            started.elapsed(),
        ));
        Ok(receipt)
    }

    async fn send_batch(&self, batch: &EmailBatch) -> Result<BatchOutcome, ProviderError> {
        let started = Instant::now();
        batch.validate(Utc::now())?;
        let mut receipts = Vec::with_capacity(batch.recipients.len());
        for chunk in batch
            .recipients
            .chunks(crate::sendgrid::MAX_PERSONALIZATIONS)
        {
            receipts.extend(chunk.iter().map(|r| self.record(&batch.for_recipient(r))));
            self.usage.record(dry_run::usage(
                self.provider,
                operation::SEND_EMAIL_BATCH,
                started.elapsed(),
            ));
        }
        Ok(BatchOutcome {
            receipts,
            failed: None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn sample_email() -> OutboundEmail {
        OutboundEmail {
            message_id: "msg-0001".into(),
            from: Mailbox::named("ana@rex-mail.example", "Ana from Rex"),
            reply_to: None,
            to: Mailbox::named("lead@acme.example", "Lee Doe"),
            subject: "Quick question".into(),
            text: "Hi Lee".into(),
            html: None,
            unsubscribe: Unsubscribe::one_click("https://rex.example/u/msg-0001"),
            send_at: None,
            categories: vec![],
        }
    }

    #[test]
    fn one_click_headers_follow_rfc_8058() {
        let mut unsub = Unsubscribe::one_click("https://rex.example/u/1");
        unsub.mailto = Some("mailto:unsub@rex.example".into());
        assert_eq!(
            unsub.headers(),
            vec![
                (
                    "List-Unsubscribe".to_owned(),
                    "<https://rex.example/u/1>, <mailto:unsub@rex.example>".to_owned()
                ),
                (
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn an_email_without_an_https_unsubscribe_is_refused() {
        let mut email = sample_email();
        email.unsubscribe = Unsubscribe::one_click("http://rex.example/u/1");
        let err = email.validate(Utc::now()).unwrap_err();
        assert!(err.to_string().contains("unsubscribe.url"), "{err}");
    }

    #[test]
    fn send_at_beyond_72_hours_is_refused() {
        let now = Utc::now();
        let mut email = sample_email();
        email.send_at = Some(now + chrono::Duration::hours(73));
        assert!(email.validate(now).is_err());
        email.send_at = Some(now + chrono::Duration::hours(71));
        assert!(email.validate(now).is_ok());
    }

    #[tokio::test]
    async fn dry_run_records_the_rendered_message_and_says_so() {
        let log = DryRunLog::new();
        let usage = crate::UsageLog::new();
        let sender =
            DryRunEmailSender::new(Provider::SendGrid, log.clone(), Arc::new(usage.clone()));
        let receipt = sender.send(&sample_email()).await.unwrap();
        let records = usage.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].operation, "send_email");
        assert!(records[0].dry_run);
        assert!(receipt.is_dry_run());
        assert_eq!(receipt.provider_message_id, None);
        let entries = log.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].recipient, "lead@acme.example");
        assert!(entries[0].rendered.contains("Subject: Quick question"));
        assert!(
            entries[0]
                .headers
                .iter()
                .any(|(n, v)| n == "List-Unsubscribe-Post" && v == "List-Unsubscribe=One-Click")
        );
    }

    #[tokio::test]
    async fn a_dry_run_batch_reports_one_usage_per_request_the_live_sender_would_make() {
        let usage = crate::UsageLog::new();
        let sender = DryRunEmailSender::new(
            Provider::SendGrid,
            DryRunLog::new(),
            Arc::new(usage.clone()),
        );
        let email = sample_email();
        let recipient = |n: usize| BatchRecipient {
            message_id: format!("msg-{n}"),
            to: Mailbox::new(format!("lead{n}@acme.example")),
            unsubscribe: Unsubscribe::one_click(format!("https://rex.example/u/{n}")),
            substitutions: BTreeMap::new(),
            send_at: None,
        };
        let batch = EmailBatch {
            from: email.from,
            reply_to: None,
            subject: email.subject,
            text: email.text,
            html: None,
            categories: vec![],
            recipients: (0..crate::sendgrid::MAX_PERSONALIZATIONS + 1)
                .map(recipient)
                .collect(),
        };
        let outcome = sender.send_batch(&batch).await.unwrap();
        assert_eq!(outcome.receipts.len(), 1001);
        let records = usage.records();
        assert_eq!(records.len(), 2);
        assert!(
            records
                .iter()
                .all(|r| r.operation == "send_email_batch" && r.dry_run)
        );
    }
}
