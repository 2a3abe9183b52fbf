//! SendGrid settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";

#[derive(Clone, Debug)]
pub struct SendGridConfig {
    /// `SENDGRID_API_KEY`. Without it SendGrid runs in dry-run.
    pub api_key: Secret,
    /// `SENDGRID_BASE_URL`, default `https://api.sendgrid.com`.
    pub base_url: Url,
    /// `SENDGRID_SANDBOX=true` sets `mail_settings.sandbox_mode`: SendGrid
    /// validates but delivers nothing. Default false.
    pub sandbox: bool,
    pub http: HttpConfig,
}

/// The signed event webhook's verification key:
/// `SENDGRID_WEBHOOK_PUBLIC_KEY` (base64 DER SubjectPublicKeyInfo).
pub const WEBHOOK_PUBLIC_KEY_VAR: &str = "SENDGRID_WEBHOOK_PUBLIC_KEY";

impl SendGridConfig {
    pub fn new(api_key: impl Into<Secret>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: env::default_url(DEFAULT_BASE_URL),
            sandbox: false,
            http: HttpConfig::default(),
        }
    }

    /// `Ok(None)` when no API key is set (dry-run); an error when a setting
    /// is present but wrong, so a typo never silently turns sending off.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let Some(api_key) = env::get(lookup, "SENDGRID_API_KEY") else {
            return Ok(None);
        };
        Ok(Some(Self {
            api_key: Secret::new(api_key),
            base_url: env::base_url(lookup, "SENDGRID_BASE_URL", DEFAULT_BASE_URL)?,
            sandbox: env::get(lookup, "SENDGRID_SANDBOX").is_some_and(|v| v == "true" || v == "1"),
            http: HttpConfig::default(),
        }))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
