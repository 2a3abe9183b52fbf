//! The live SendGrid sender: sends the requests `request.rs` builds.

use super::config::SendGridConfig;
use super::request::{MAX_PERSONALIZATIONS, build_batch, build_send};
use crate::clock::{Clock, SystemClock};
use crate::dry_run::{Delivery, Mode};
use crate::email::{
    BatchFailure, BatchOutcome, EmailBatch, EmailReceipt, EmailSender, OutboundEmail,
};
use crate::error::{FieldError, ProviderError};
use crate::http::{ApiRequest, Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::usage::{Cost, SharedUsageSink};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

/// SendGrid's error body: `{"errors": [{"message", "field", "help"}]}`.
#[derive(Deserialize)]
struct SendGridErrors {
    #[serde(default)]
    errors: Vec<SendGridError>,
}

#[derive(Deserialize)]
struct SendGridError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(parsed) = serde_json::from_slice::<SendGridErrors>(body) else {
        return ErrorBody::default();
    };
    let fields: Vec<FieldError> = parsed
        .errors
        .into_iter()
        .map(|e| FieldError {
            field: e.field,
            message: e.message.unwrap_or_default(),
        })
        .collect();
    let message = fields
        .iter()
        .map(|f| match &f.field {
            Some(field) => format!("{field}: {}", f.message),
            None => f.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    ErrorBody {
        code: None,
        message,
        fields,
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify: |status, _| ErrorClass::from_status(status),
    pending_statuses: &[],
};

/// Sends email through SendGrid v3.
#[derive(Clone)]
pub struct SendGridClient {
    http: HttpClient,
    auth: Auth,
    sandbox: bool,
    clock: Arc<dyn Clock>,
}

impl SendGridClient {
    pub fn new(config: SendGridConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::SendGrid,
            config.base_url,
            config.http,
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: Auth::Bearer(config.api_key),
            sandbox: config.sandbox,
            clock: Arc::new(SystemClock),
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn post(
        &self,
        request: &ApiRequest,
        emails: u32,
    ) -> Result<Option<String>, ProviderError> {
        self.http
            .call(request, &self.auth, |exchange| {
                // 202 Accepted with an empty body; the id is in a header.
                let id = exchange.header("x-message-id").map(str::to_owned);
                Ok((
                    id,
                    Cost {
                        emails,
                        ..Cost::default()
                    },
                ))
            })
            .await
    }
}

impl std::fmt::Debug for SendGridClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendGridClient")
            .field("http", &self.http)
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EmailSender for SendGridClient {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    async fn send(&self, email: &OutboundEmail) -> Result<EmailReceipt, ProviderError> {
        let request = build_send(email, self.clock.now(), self.sandbox)?;
        let id = self.post(&request, 1).await?;
        Ok(EmailReceipt {
            message_id: email.message_id.clone(),
            provider_message_id: id,
            delivery: Delivery::Sent,
        })
    }

    /// Requests go out one after another and stop at the first failure.
    async fn send_batch(&self, batch: &EmailBatch) -> Result<BatchOutcome, ProviderError> {
        let requests = build_batch(batch, self.clock.now(), self.sandbox)?;
        let mut receipts = Vec::with_capacity(batch.recipients.len());
        let chunks = batch.recipients.chunks(MAX_PERSONALIZATIONS);
        for (index, (request, chunk)) in requests.iter().zip(chunks).enumerate() {
            match self.post(request, chunk.len() as u32).await {
                Ok(id) => receipts.extend(chunk.iter().map(|r| EmailReceipt {
                    message_id: r.message_id.clone(),
                    provider_message_id: id.clone(),
                    delivery: Delivery::Sent,
                })),
                Err(error) => {
                    let message_ids = batch.recipients[index * MAX_PERSONALIZATIONS..]
                        .iter()
                        .map(|r| r.message_id.clone())
                        .collect();
                    return Ok(BatchOutcome {
                        receipts,
                        failed: Some(BatchFailure { error, message_ids }),
                    });
                }
            }
        }
        Ok(BatchOutcome {
            receipts,
            failed: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lists_are_read_field_by_field() {
        let body = br#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null},{"message":"Invalid type.","field":"personalizations.0.send_at"}]}"#;
        let parsed = parse_error(body);
        assert_eq!(parsed.fields.len(), 2);
        assert_eq!(parsed.fields[0].field.as_deref(), Some("from"));
        assert!(parsed.message.starts_with("from: The from address"));
        assert_eq!(parse_error(b"<html>oops</html>"), ErrorBody::default());
    }
}
