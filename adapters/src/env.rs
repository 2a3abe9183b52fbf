//! Reading provider settings from environment variables. Every config has a
//! `from_lookup` taking any `name -> value` function, so tests never touch
//! the process environment; `from_env` passes [`process_env`].

use crate::error::ProviderError;
use url::Url;

/// A source of settings: `name -> value`.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, treating empty and blank values as absent.
pub(crate) fn get(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A base URL from `name`, or `default`.
pub(crate) fn base_url(
    lookup: Lookup<'_>,
    name: &'static str,
    default: &str,
) -> Result<Url, ProviderError> {
    let text = get(lookup, name).unwrap_or_else(|| default.to_owned());
    let url = Url::parse(&text).map_err(|e| ProviderError::invalid_input(name, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::invalid_input(name, "must be an http(s) URL"));
    }
    Ok(url)
}

/// Parses one of this crate's built-in default URLs (literals, covered by
/// a test), so it cannot fail at run time.
pub(crate) fn default_url(text: &'static str) -> Url {
    Url::parse(text).expect("built-in default URL is valid")
}
