//! What every handler shares.

use std::sync::Arc;

use rex_broker::Broker;
use rex_domain_store::keyring::Keyring;
use rex_engine::Engine;
use rex_store::Store;
use tokio_util::sync::CancellationToken;

use crate::auth::KeyCache;
use crate::config::ApiConfig;
use crate::ratelimit::RateLimiter;
use crate::webhooks::secrets::{NoWebhookSecrets, WebhookSecrets};

/// The API's handles: cheap to clone (every field is shared).
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub engine: Engine,
    /// Asked by `/readyz` whether the broker answers.
    pub broker: Arc<dyn Broker>,
    pub config: Arc<ApiConfig>,
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) keys: Arc<KeyCache>,
    /// Seals and opens tenant secrets (`/v1/secrets`); `None` when `REX_SECRETS_KEYS`
    /// is not set, and then those endpoints answer 503 `secrets_disabled`.
    pub keyring: Option<Arc<Keyring>>,
    /// The verification keys of provider webhooks; none until
    /// [`ApiState::with_webhook_secrets`] gives some (every webhook answers 404).
    pub webhook_secrets: Arc<dyn WebhookSecrets>,
    /// Ends live event streams when the server stops ([`crate::serve`] sets it), so
    /// a graceful shutdown does not wait for clients that never disconnect.
    pub(crate) shutdown: CancellationToken,
}

impl ApiState {
    /// `engine` should be built on the same `store` and `broker` (as `rex`'s
    /// `setup::engine` does): missions are started and changed through it.
    pub fn new(store: Store, engine: Engine, broker: Arc<dyn Broker>, config: ApiConfig) -> Self {
        let limiter = Arc::new(RateLimiter::new(config.rate_limit_per_minute));
        let keys = Arc::new(KeyCache::new(config.key_cache_ttl));
        Self {
            store,
            engine,
            broker,
            config: Arc::new(config),
            limiter,
            keys,
            keyring: None,
            webhook_secrets: Arc::new(NoWebhookSecrets),
            shutdown: CancellationToken::new(),
        }
    }

    /// Forgets a key this process may have remembered, so its revocation (by
    /// [`crate::revoke_api_key`]) takes effect here at once rather than after
    /// `key_cache_ttl`.
    pub fn forget_key(&self, key_id: uuid::Uuid) {
        self.keys.forget_key(key_id);
    }

    /// The state with secret storage enabled under `keyring`.
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// Verifies provider webhooks with the keys `secrets` resolves.
    pub fn with_webhook_secrets(mut self, secrets: Arc<dyn WebhookSecrets>) -> Self {
        self.webhook_secrets = secrets;
        self
    }
}
