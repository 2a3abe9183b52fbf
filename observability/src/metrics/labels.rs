//! Label values with a ceiling: a label takes at most `cap` distinct values per
//! process, later ones are counted under `other`. A caller passing an id by mistake
//! then costs one series, not one per mission.

use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// The value that stands for everything past the ceiling, and for values too long to
/// be a name.
pub const OTHER: &str = "other";
/// The value of an empty label.
pub const UNKNOWN: &str = "unknown";
/// Longer values are not names (a message, a URL): they become [`OTHER`].
const MAX_LEN: usize = 64;

#[derive(Debug)]
pub(crate) struct BoundedLabel {
    name: &'static str,
    cap: usize,
    seen: RwLock<HashSet<Box<str>>>,
    warned: AtomicBool,
}

impl BoundedLabel {
    pub(crate) fn new(name: &'static str, cap: usize) -> Self {
        Self {
            name,
            cap,
            seen: RwLock::new(HashSet::new()),
            warned: AtomicBool::new(false),
        }
    }

    /// `value` when it is already known or there is room for it, else [`OTHER`].
    pub(crate) fn admit<'a>(&self, value: &'a str) -> &'a str {
        if value.is_empty() {
            return UNKNOWN;
        }
        if value.len() > MAX_LEN {
            return OTHER;
        }
        let known = self
            .seen
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(value);
        if known {
            return value;
        }
        let mut seen = self
            .seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() < self.cap {
            seen.insert(value.into());
            return value;
        }
        drop(seen);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                label = self.name,
                cap = self.cap,
                "metric label has too many distinct values; further ones are counted as \"other\""
            );
        }
        OTHER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_past_the_ceiling_become_other() {
        let label = BoundedLabel::new("agent", 2);
        assert_eq!(label.admit("reviver"), "reviver");
        assert_eq!(label.admit("icp"), "icp");
        assert_eq!(label.admit("scraper"), OTHER);
        assert_eq!(label.admit("reviver"), "reviver", "known values stay");
        assert_eq!(label.admit(""), UNKNOWN);
        assert_eq!(label.admit(&"x".repeat(65)), OTHER);
    }
}
