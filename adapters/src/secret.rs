//! `Secret`: an API key or token that never shows itself in `Debug`, `Display`,
//! logs or error messages. The only way to read it is [`Secret::expose`], which
//! the HTTP layer calls when it writes an auth header (marked sensitive).

use std::fmt;

/// A credential. `Debug` and `Display` print `[redacted]`; it is deliberately
/// not `Serialize`, so it cannot leak through a serialized config either.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Replaces every occurrence of this secret in `text` by `[redacted]`.
    /// Used on provider error bodies, which sometimes echo what they got.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 {
            // Too short to scrub without mangling ordinary words; such a
            // value cannot be a real credential anyway.
            return text.to_owned();
        }
        text.replace(self.0.as_str(), "[redacted]")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("SG.very-secret-key");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{secret}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            key: Secret,
        }
        let shown = format!(
            "{:?}",
            Config {
                key: secret.clone()
            }
        );
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(secret.expose(), "SG.very-secret-key");
    }

    #[test]
    fn scrub_removes_every_occurrence() {
        let secret = Secret::new("abcd1234");
        assert_eq!(
            secret.scrub("key abcd1234 is invalid (abcd1234)"),
            "key [redacted] is invalid ([redacted])"
        );
    }
}
