//! Rex's pure domain core: the scoring, decision and rule functions of the seven agents
//! and of the decision engine, as plain functions over plain (serde) data.
//!
//! This crate must never do IO: it depends on serde, serde_json, chrono, chrono-tz and
//! thiserror (and hmac, sha2, base64 and uuid for [`unsubscribe`]'s signed tokens)
//! only — no tokio, sea-orm, reqwest or lapin. Time comes in as an argument
//! (`now`), randomness is a hash of ids, so every decision is reproducible in a test.
//! Workers call these functions and carry out the effects they describe.
//!
//! Every threshold is a named constant or a documented table; the module docs cite the
//! source (DOMAIN.md, or "chosen" with the reason).

pub mod analytics;
pub mod channel;
pub mod deliverability;
pub mod demo;
pub mod error;
pub mod icp;
pub mod inbox;
pub mod outreach;
pub mod personalizer;
pub mod replies;
pub mod reviver;
pub mod rules;
pub mod scraper;
pub mod unsubscribe;
pub mod world;

pub use channel::{Channel, Consent, ConsentFlags};
pub use error::DomainError;
