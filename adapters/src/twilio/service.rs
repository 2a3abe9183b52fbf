//! The live Twilio SMS sender.

use super::config::TwilioConfig;
use super::request::build_send;
use crate::dry_run::{Delivery, Mode};
use crate::error::ProviderError;
use crate::http::{Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::sms::{OutboundSms, SmsReceipt, SmsSender, count_segments};
use crate::usage::{Cost, SharedUsageSink};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

/// Twilio error code: the recipient replied STOP to this sender.
pub const OPTED_OUT_CODE: &str = "21610";

/// `{"code": 21610, "message": "...", "more_info": "...", "status": 400}`
#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<TwilioError>(body) {
        Ok(e) => ErrorBody {
            code: e.code.and_then(|c| match c {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s),
                _ => None,
            }),
            message: e.message.unwrap_or_default(),
            fields: Vec::new(),
        },
        Err(_) => ErrorBody::default(),
    }
}

fn classify(status: u16, body: &ErrorBody) -> ErrorClass {
    match body.code.as_deref() {
        // Opted out: suppress everywhere, never retry.
        Some(OPTED_OUT_CODE) => ErrorClass::RecipientOptedOut,
        Some("20429") => ErrorClass::RateLimited,
        _ => ErrorClass::from_status(status),
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify,
    pending_statuses: &[],
};

/// The message resource Twilio answers with (201 Created).
#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    #[serde(default)]
    status: Option<String>,
    /// A string in Twilio's JSON (`"1"`).
    #[serde(default)]
    num_segments: Option<Value>,
}

#[derive(Clone)]
pub struct TwilioClient {
    http: HttpClient,
    auth: Auth,
    config: TwilioConfig,
}

impl TwilioClient {
    pub fn new(config: TwilioConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Twilio,
            config.base_url.clone(),
            config.http.clone(),
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: Auth::Basic {
                user: config.account_sid.clone(),
                password: config.auth_token.clone(),
            },
            config,
        })
    }
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("http", &self.http)
            .field("account_sid", &self.config.account_sid)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SmsSender for TwilioClient {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    async fn send(&self, sms: &OutboundSms) -> Result<SmsReceipt, ProviderError> {
        let request = build_send(&self.config, sms)?;
        let segments = count_segments(&sms.body);
        let resource: MessageResource = self
            .http
            .call(&request, &self.auth, |exchange| {
                let resource: MessageResource = exchange.json(Provider::Twilio)?;
                let billed = resource
                    .num_segments
                    .as_ref()
                    .and_then(|n| match n {
                        Value::String(s) => s.parse().ok(),
                        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                        _ => None,
                    })
                    .unwrap_or(segments.segments);
                Ok((
                    resource,
                    Cost {
                        sms_segments: billed,
                        ..Cost::default()
                    },
                ))
            })
            .await?;
        Ok(SmsReceipt {
            message_id: sms.message_id.clone(),
            provider_message_id: Some(resource.sid),
            status: resource.status,
            segments,
            delivery: Delivery::Sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_21610_means_opted_out_whatever_the_status() {
        let body = parse_error(
            br#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#,
        );
        assert_eq!(body.code.as_deref(), Some("21610"));
        assert_eq!(classify(400, &body), ErrorClass::RecipientOptedOut);
        let other = parse_error(
            br#"{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}"#,
        );
        assert_eq!(classify(400, &other), ErrorClass::Rejected);
        assert_eq!(parse_error(b"\xff\xfe"), ErrorBody::default());
    }
}
