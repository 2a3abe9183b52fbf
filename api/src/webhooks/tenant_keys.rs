//! Webhook verification keys stored by each tenant with its provider credentials
//! (`/v1/secrets`: `sendgrid.webhook_public_key`, `twilio.auth_token`,
//! `calendly.webhook_signing_key`), encrypted at rest, with the deployment's keys (the
//! environment's, [`super::secrets::EnvWebhookSecrets`]) for a tenant that stored none.
//!
//! A tenant's key is read in a transaction in its name (row-level security holds) and
//! remembered for a short time, so a burst of provider callbacks costs one lookup; a
//! key changed through `/v1/secrets` is used within that time by every API process
//! (and at once by this one, which forgets what it remembered).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rex_adapters::Secret;
use rex_domain_store::keyring::Keyring;
use rex_store::Store;

use super::secrets::{SecretsUnavailable, WebhookProvider, WebhookSecrets};
use crate::tenancy;

/// How long a tenant's key (or its absence) is remembered.
pub const TENANT_KEY_TTL: Duration = Duration::from_secs(10);

/// The tenant secret holding `provider`'s webhook key.
pub fn secret_name(provider: WebhookProvider) -> &'static str {
    match provider {
        WebhookProvider::SendGrid => "sendgrid.webhook_public_key",
        WebhookProvider::Twilio => "twilio.auth_token",
        WebhookProvider::Calendly => "calendly.webhook_signing_key",
    }
}

type Remembered = HashMap<(String, WebhookProvider), (Instant, Option<Secret>)>;

/// Each tenant's stored keys, else `fallback`'s.
pub struct TenantWebhookSecrets {
    store: Store,
    keyring: Arc<Keyring>,
    fallback: Arc<dyn WebhookSecrets>,
    ttl: Duration,
    remembered: Mutex<Remembered>,
}

impl TenantWebhookSecrets {
    pub fn new(store: Store, keyring: Arc<Keyring>, fallback: Arc<dyn WebhookSecrets>) -> Self {
        Self {
            store,
            keyring,
            fallback,
            ttl: TENANT_KEY_TTL,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    /// Remember keys for `ttl` instead of [`TENANT_KEY_TTL`] (`ZERO`: read every time).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn into_arc(self) -> Arc<dyn WebhookSecrets> {
        Arc::new(self)
    }

    /// The tenant's own key, `None` when it stored none.
    async fn stored(
        &self,
        tenant: &str,
        provider: WebhookProvider,
    ) -> Result<Option<Secret>, SecretsUnavailable> {
        let unavailable = |e: &dyn std::fmt::Display| SecretsUnavailable(e.to_string());
        let txn = tenancy::begin(&self.store, tenant)
            .await
            .map_err(|e| unavailable(&e))?;
        let found = match rex_domain_store::tenant_by_slug(&txn, tenant)
            .await
            .map_err(|e| unavailable(&e))?
        {
            Some(t) => {
                rex_domain_store::get_secret(&txn, &self.keyring, t.id, secret_name(provider))
                    .await
                    .map_err(|e| unavailable(&e))?
            }
            None => None,
        };
        txn.commit().await.map_err(|e| unavailable(&e))?;
        Ok(found.map(|v| Secret::new(v.expose().trim().to_owned())))
    }

    fn recall(&self, key: &(String, WebhookProvider)) -> Option<Option<Secret>> {
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        remembered
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, secret)| secret.clone())
    }

    fn remember(&self, key: (String, WebhookProvider), secret: Option<Secret>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        // bounded by tenants × providers; drop stale entries when it grows
        if remembered.len() >= 10_000 {
            remembered.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        remembered.insert(key, (Instant::now(), secret));
    }
}

#[async_trait]
impl WebhookSecrets for TenantWebhookSecrets {
    async fn key(
        &self,
        tenant: &str,
        provider: WebhookProvider,
    ) -> Result<Option<Secret>, SecretsUnavailable> {
        let cache_key = (tenant.to_owned(), provider);
        let own = match self.recall(&cache_key) {
            Some(hit) => hit,
            None => {
                let own = self.stored(tenant, provider).await?;
                self.remember(cache_key, own.clone());
                own
            }
        };
        match own {
            Some(secret) => Ok(Some(secret)),
            None => self.fallback.key(tenant, provider).await,
        }
    }

    fn forget(&self, tenant: &str) {
        self.remembered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| t != tenant);
    }
}
