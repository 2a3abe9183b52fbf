//! One sea-orm entity per table; the schema itself lives in `rex-migrations`.

pub mod attempts;
pub mod dead_letters;
pub mod definitions;
pub mod mission_keys;
pub mod mission_parents;
pub mod missions;
pub mod outbox;
pub mod signals;
pub mod steps;
pub mod timers;
