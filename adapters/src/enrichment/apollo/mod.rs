//! Apollo: people match (one) and bulk match (up to ten per request).

mod config;
mod request;
mod service;

pub use config::ApolloConfig;
pub use request::MAX_BULK_MATCH;
pub use service::{ApolloClient, MOBILE_PHONE_CREDITS};
