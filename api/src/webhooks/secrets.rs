//! Where the webhook verification keys come from: a [`WebhookSecrets`] resolver per
//! tenant and provider, held by [`crate::ApiState`].
//!
//! [`EnvWebhookSecrets`] reads the providers' usual variables once (one key for every
//! tenant of the deployment); [`super::tenant_keys::TenantWebhookSecrets`] reads each
//! tenant's own keys from its encrypted secrets, with the environment's as fallback. A
//! provider with no key is refused, never accepted unsigned.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use rex_adapters::Secret;

/// The providers whose webhooks the API takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebhookProvider {
    /// The event webhook's ECDSA public key (base64 DER).
    SendGrid,
    /// The account's auth token (HMAC-SHA1 key of `X-Twilio-Signature`).
    Twilio,
    /// The webhook subscription's signing key (HMAC-SHA256).
    Calendly,
}

impl WebhookProvider {
    /// The environment variable [`EnvWebhookSecrets`] reads.
    pub fn env_var(self) -> &'static str {
        match self {
            WebhookProvider::SendGrid => rex_adapters::sendgrid::WEBHOOK_PUBLIC_KEY_VAR,
            WebhookProvider::Twilio => "TWILIO_AUTH_TOKEN",
            WebhookProvider::Calendly => rex_adapters::calendly::WEBHOOK_SIGNING_KEY_VAR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookProvider::SendGrid => "sendgrid",
            WebhookProvider::Twilio => "twilio",
            WebhookProvider::Calendly => "calendly",
        }
    }
}

impl fmt::Display for WebhookProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret store could not answer (answered 503, so the provider retries).
#[derive(Debug, thiserror::Error)]
#[error("webhook secrets unavailable: {0}")]
pub struct SecretsUnavailable(pub String);

/// Resolves the verification key of `provider`'s webhooks for `tenant` (its slug).
#[async_trait]
pub trait WebhookSecrets: Send + Sync + 'static {
    /// `Ok(None)`: no key configured; the webhook is refused.
    async fn key(
        &self,
        tenant: &str,
        provider: WebhookProvider,
    ) -> Result<Option<Secret>, SecretsUnavailable>;

    /// Forget what is remembered of `tenant`'s keys (it just changed a secret).
    fn forget(&self, _tenant: &str) {}
}

/// No keys at all: every webhook is refused (what [`crate::ApiState::new`] starts with).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoWebhookSecrets;

#[async_trait]
impl WebhookSecrets for NoWebhookSecrets {
    async fn key(&self, _: &str, _: WebhookProvider) -> Result<Option<Secret>, SecretsUnavailable> {
        Ok(None)
    }
}

/// One key per provider for every tenant, read once from the environment
/// (`SENDGRID_WEBHOOK_PUBLIC_KEY`, `TWILIO_AUTH_TOKEN`, `CALENDLY_WEBHOOK_SIGNING_KEY`).
#[derive(Clone, Default)]
pub struct EnvWebhookSecrets {
    sendgrid: Option<Secret>,
    twilio: Option<Secret>,
    calendly: Option<Secret>,
}

impl fmt::Debug for EnvWebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvWebhookSecrets")
            .field("sendgrid", &self.sendgrid.is_some())
            .field("twilio", &self.twilio.is_some())
            .field("calendly", &self.calendly.is_some())
            .finish()
    }
}

impl EnvWebhookSecrets {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |p: WebhookProvider| {
            lookup(p.env_var())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(Secret::new)
        };
        Self {
            sendgrid: get(WebhookProvider::SendGrid),
            twilio: get(WebhookProvider::Twilio),
            calendly: get(WebhookProvider::Calendly),
        }
    }

    pub fn into_arc(self) -> Arc<dyn WebhookSecrets> {
        Arc::new(self)
    }
}

#[async_trait]
impl WebhookSecrets for EnvWebhookSecrets {
    async fn key(
        &self,
        _tenant: &str,
        provider: WebhookProvider,
    ) -> Result<Option<Secret>, SecretsUnavailable> {
        Ok(match provider {
            WebhookProvider::SendGrid => self.sendgrid.clone(),
            WebhookProvider::Twilio => self.twilio.clone(),
            WebhookProvider::Calendly => self.calendly.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_environment_names_each_providers_key_and_blank_is_unset() {
        let secrets = EnvWebhookSecrets::from_lookup(|name| match name {
            "TWILIO_AUTH_TOKEN" => Some("tok".into()),
            "CALENDLY_WEBHOOK_SIGNING_KEY" => Some("  ".into()),
            _ => None,
        });
        let twilio = secrets.key("acme", WebhookProvider::Twilio).await.unwrap();
        assert_eq!(
            twilio.map(|s| s.expose().to_owned()).as_deref(),
            Some("tok")
        );
        assert!(
            secrets
                .key("acme", WebhookProvider::Calendly)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            secrets
                .key("acme", WebhookProvider::SendGrid)
                .await
                .unwrap()
                .is_none()
        );
        assert!(!format!("{secrets:?}").contains("tok"));
    }
}
