//! The orchestrator: it owns the mission lifecycle on top of the pure state machine.
//!
//! Every change follows one path ([`commit`]): lock the missions' rows, rebuild their
//! state, apply the events with [`rex_core::machine::apply`], and write the new state,
//! the tasks it implies (the outbox) and its timers in ONE transaction. Only after the
//! commit are the tasks published (with publisher confirms) and their outbox rows
//! deleted; the [`relay`] publishes whatever a crash left in the outbox. Timers (retry
//! back-off, step timeouts) are rows fired by the [`timers`] loop with
//! `FOR UPDATE SKIP LOCKED`, so any number of orchestrators can run side by side.
//!
//! This crate does IO (store, broker, tokio); the decisions themselves live in
//! `rex-core` and are never made here.

mod agents;
pub mod catalog;
mod commit;
mod control;
mod convert;
pub mod dead_letters;
mod error;
mod fan_out;
pub mod fault;
mod gauges;
pub mod orchestrator;
mod publish;
pub mod relay;
mod sweep;
pub mod timers;

pub use agents::{AgentOverview, RecentOutcomes};
pub use catalog::{Catalog, LATEST_TTL};
pub use commit::{Committed, Engine, MissionUpdate, StartMission, Started};
pub use control::Outcome;
pub use error::EngineError;
pub use gauges::sample as sample_gauges;
pub use orchestrator::{LatencyProbe, Orchestrator, OrchestratorConfig};
