//! Calendly API v2 settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.calendly.com";

#[derive(Clone, Debug)]
pub struct CalendlyConfig {
    /// `CALENDLY_TOKEN`: a personal access or OAuth token (Bearer).
    pub token: Secret,
    /// `CALENDLY_EVENT_TYPE`: the URI of the event type leads book,
    /// e.g. `https://api.calendly.com/event_types/AAAA`.
    pub event_type: String,
    /// `CALENDLY_BASE_URL`, default `https://api.calendly.com`.
    pub base_url: Url,
    pub http: HttpConfig,
}

/// The webhook signing key: `CALENDLY_WEBHOOK_SIGNING_KEY`.
pub const WEBHOOK_SIGNING_KEY_VAR: &str = "CALENDLY_WEBHOOK_SIGNING_KEY";

impl CalendlyConfig {
    pub fn new(token: impl Into<Secret>, event_type: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            event_type: event_type.into(),
            base_url: env::default_url(DEFAULT_BASE_URL),
            http: HttpConfig::default(),
        }
    }

    /// `Ok(None)` without a token (dry-run); an error when the token is set
    /// but the event type is not.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let Some(token) = env::get(lookup, "CALENDLY_TOKEN") else {
            return Ok(None);
        };
        let event_type = env::get(lookup, "CALENDLY_EVENT_TYPE").ok_or_else(|| {
            ProviderError::invalid_input(
                "CALENDLY_EVENT_TYPE",
                "required when CALENDLY_TOKEN is set (the event type URI leads book)",
            )
        })?;
        Ok(Some(Self {
            token: Secret::new(token),
            event_type,
            base_url: env::base_url(lookup, "CALENDLY_BASE_URL", DEFAULT_BASE_URL)?,
            http: HttpConfig::default(),
        }))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
