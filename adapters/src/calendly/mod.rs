//! Calendly API v2: single-use scheduling links tagged with the lead's id,
//! available times, and the signed `invitee.*` webhooks.

mod config;
mod request;
mod service;
mod webhook;

pub use config::{CalendlyConfig, DEFAULT_BASE_URL, WEBHOOK_SIGNING_KEY_VAR};
pub use request::{
    MAX_AVAILABILITY_RANGE, build_available_times, build_create_link, tracked_booking_url,
};
pub use service::CalendlyClient;
pub use webhook::{
    BookingEvent, BookingEventKind, CalendlyWebhookVerifier, DEFAULT_TOLERANCE, SIGNATURE_HEADER,
    parse_event,
};
