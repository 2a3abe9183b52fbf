//! The HTTP layer every provider client shares: timeouts, retries with
//! exponential back-off and jitter on 429/5xx (honouring `Retry-After` and
//! `X-RateLimit-Reset`), typed errors, a tracing span and a [`crate::Usage`]
//! record per call. Requests are built as plain data ([`ApiRequest`]) by each
//! provider's pure `request.rs`; only [`HttpClient`] does IO.

mod client;
mod config;
mod request;
mod retry;

pub use client::{ErrorBody, ErrorClass, ErrorPolicy, Exchange, HttpClient};
pub use config::HttpConfig;
pub use request::{ApiRequest, Auth, Body, Method};
pub use retry::retry_after_from_headers;
