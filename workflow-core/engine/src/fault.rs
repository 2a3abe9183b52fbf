//! Named crash points for tests of the engine's recovery, in the spirit of
//! FoundationDB's "buggify": `REX_FAULT_POINTS=orchestrator.after_commit` makes the
//! process abort the first time it reaches that point. Unset (always, in production), a
//! point costs one load of an initialised `OnceLock`.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The orchestrator committed a state change and its outbox, and has not published yet.
pub const AFTER_COMMIT: &str = "orchestrator.after_commit";

fn armed() -> &'static HashSet<String> {
    static POINTS: OnceLock<HashSet<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("REX_FAULT_POINTS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Aborts the process (no unwinding, no cleanup: like `kill -9`) when `name` is armed.
pub fn point(name: &str) {
    if !armed().is_empty() && armed().contains(name) {
        eprintln!("fault point {name} reached: aborting");
        std::process::abort();
    }
}
