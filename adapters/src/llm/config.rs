//! LLM endpoint settings and where they come from.

use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::http::HttpConfig;
use crate::secret::Secret;
use url::Url;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Clone, Debug)]
pub struct LlmConfig {
    /// `LLM_BASE_URL` (else `OPENAI_BASE_URL`), e.g.
    /// `http://localhost:11434` for Ollama; a trailing `/v1` is accepted.
    /// Default `https://api.openai.com`.
    pub base_url: Url,
    /// `LLM_API_KEY` (else `OPENAI_API_KEY`); optional for local servers.
    pub api_key: Option<Secret>,
    /// `LLM_MODEL`, default `gpt-4o-mini`.
    pub model: String,
    /// Sampling temperature when a prompt sets none. Default 0.2.
    pub temperature: f32,
    /// Answer length cap in tokens when a prompt sets none. Default 800.
    pub max_tokens: u32,
    pub http: HttpConfig,
}

impl LlmConfig {
    pub fn new(base_url: Url, model: impl Into<String>) -> Self {
        Self {
            base_url,
            api_key: None,
            model: model.into(),
            temperature: 0.2,
            max_tokens: 800,
            http: HttpConfig::for_llm(),
        }
    }

    /// `Ok(None)` (dry-run) when neither a base URL nor a key is set.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Option<Self>, ProviderError> {
        let base = env::get(lookup, "LLM_BASE_URL").or_else(|| env::get(lookup, "OPENAI_BASE_URL"));
        let key = env::get(lookup, "LLM_API_KEY").or_else(|| env::get(lookup, "OPENAI_API_KEY"));
        if base.is_none() && key.is_none() {
            return Ok(None);
        }
        let base_url = match base {
            Some(text) => {
                let url = Url::parse(&text)
                    .map_err(|e| ProviderError::invalid_input("LLM_BASE_URL", e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ProviderError::invalid_input(
                        "LLM_BASE_URL",
                        "must be an http(s) URL",
                    ));
                }
                url
            }
            None => env::default_url(DEFAULT_BASE_URL),
        };
        let model = env::get(lookup, "LLM_MODEL").unwrap_or_else(|| DEFAULT_MODEL.to_owned());
        let mut config = Self::new(base_url, model);
        config.api_key = key.map(Secret::new);
        Ok(Some(config))
    }

    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}
