//! Twilio Messaging settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Who the message comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderId {
    /// `From`: one E.164 number.
    Number(String),
    /// `MessagingServiceSid`: Twilio picks the number from the service's pool.
    MessagingService(String),
}

#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// `TWILIO_ACCOUNT_SID` (`AC…`).
    pub account_sid: String,
    /// `TWILIO_AUTH_TOKEN`: the Basic-auth password and the webhook signing key.
    pub auth_token: Secret,
    /// `TWILIO_MESSAGING_SERVICE_SID`, else `TWILIO_FROM_NUMBER`.
    pub sender: SenderId,
    /// `TWILIO_STATUS_CALLBACK_URL`: where Twilio posts status changes; Rex
    /// adds `rex_message_id=<id>` to its query. Optional.
    pub status_callback: Option<Url>,
    /// `TWILIO_BASE_URL`, default `https://api.twilio.com`.
    pub base_url: Url,
    pub http: HttpConfig,
}

impl TwilioConfig {
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<Secret>,
        sender: SenderId,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            sender,
            status_callback: None,
            base_url: env::default_url(DEFAULT_BASE_URL),
            http: HttpConfig::default(),
        }
    }

    /// `Ok(None)` when the SID or the token is missing (dry-run); an error
    /// when credentials are set but the rest is wrong or missing.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let (Some(account_sid), Some(auth_token)) = (
            env::get(lookup, "TWILIO_ACCOUNT_SID"),
            env::get(lookup, "TWILIO_AUTH_TOKEN"),
        ) else {
            return Ok(None);
        };
        let sender = match (
            env::get(lookup, "TWILIO_MESSAGING_SERVICE_SID"),
            env::get(lookup, "TWILIO_FROM_NUMBER"),
        ) {
            (Some(sid), _) => SenderId::MessagingService(sid),
            (None, Some(number)) => SenderId::Number(number),
            (None, None) => {
                return Err(ProviderError::invalid_input(
                    "TWILIO_MESSAGING_SERVICE_SID",
                    "set it or TWILIO_FROM_NUMBER when Twilio credentials are configured",
                ));
            }
        };
        let status_callback = match env::get(lookup, "TWILIO_STATUS_CALLBACK_URL") {
            Some(text) => Some(Url::parse(&text).map_err(|e| {
                ProviderError::invalid_input("TWILIO_STATUS_CALLBACK_URL", e.to_string())
            })?),
            None => None,
        };
        Ok(Some(Self {
            account_sid,
            auth_token: Secret::new(auth_token),
            sender,
            status_callback,
            base_url: env::base_url(lookup, "TWILIO_BASE_URL", DEFAULT_BASE_URL)?,
            http: HttpConfig::default(),
        }))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
