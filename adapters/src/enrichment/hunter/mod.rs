//! Hunter v2: email finder and email verifier.

mod config;
mod request;
mod service;

pub use config::HunterConfig;
pub use service::HunterClient;
