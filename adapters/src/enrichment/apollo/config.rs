//! Apollo settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.apollo.io";

#[derive(Clone, Debug)]
pub struct ApolloConfig {
    /// `APOLLO_API_KEY`, sent in the `x-api-key` header.
    pub api_key: Secret,
    /// `APOLLO_BASE_URL`, default `https://api.apollo.io`.
    pub base_url: Url,
    /// `APOLLO_REVEAL_PHONE=true` asks for mobile numbers (8 more credits per
    /// match that returns one). Default false.
    pub reveal_phone: bool,
    pub http: HttpConfig,
}

impl ApolloConfig {
    pub fn new(api_key: impl Into<Secret>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: env::default_url(DEFAULT_BASE_URL),
            reveal_phone: false,
            http: HttpConfig::default(),
        }
    }

    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let Some(api_key) = env::get(lookup, "APOLLO_API_KEY") else {
            return Ok(None);
        };
        Ok(Some(Self {
            api_key: Secret::new(api_key),
            base_url: env::base_url(lookup, "APOLLO_BASE_URL", DEFAULT_BASE_URL)?,
            reveal_phone: env::get(lookup, "APOLLO_REVEAL_PHONE")
                .is_some_and(|v| v == "true" || v == "1"),
            http: HttpConfig::default(),
        }))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
