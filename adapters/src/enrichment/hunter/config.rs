//! Hunter settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.hunter.io";

#[derive(Clone, Debug)]
pub struct HunterConfig {
    /// `HUNTER_API_KEY`, sent in the `X-API-KEY` header (never in the query
    /// string, where proxies and logs would keep it).
    pub api_key: Secret,
    /// `HUNTER_BASE_URL`, default `https://api.hunter.io`.
    pub base_url: Url,
    pub http: HttpConfig,
}

impl HunterConfig {
    pub fn new(api_key: impl Into<Secret>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: env::default_url(DEFAULT_BASE_URL),
            http: HttpConfig::default(),
        }
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let Some(api_key) = env::get(lookup, "HUNTER_API_KEY") else {
            return Ok(None);
        };
        Ok(Some(Self {
            api_key: Secret::new(api_key),
            base_url: env::base_url(lookup, "HUNTER_BASE_URL", DEFAULT_BASE_URL)?,
            http: HttpConfig::default(),
        }))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
