//! One sea-orm entity per table; the schema itself lives in `rex-migrations`.

pub mod attempts;
pub mod definitions;
pub mod missions;
pub mod outbox;
pub mod steps;
pub mod timers;
