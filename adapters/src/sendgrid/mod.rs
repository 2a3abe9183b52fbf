//! SendGrid v3: sending email (`POST /v3/mail/send`) and its event webhook.
//! `config.rs` reads the settings, `request.rs` builds request bodies
//! (pure), `service.rs` sends them, `webhook.rs` verifies and parses events.

mod config;
mod request;
mod service;
mod webhook;

pub use config::{DEFAULT_BASE_URL, SendGridConfig, WEBHOOK_PUBLIC_KEY_VAR};
pub use request::{MAX_PERSONALIZATIONS, MESSAGE_ID_ARG, SEND_PATH, build_batch, build_send};
pub use service::SendGridClient;
pub use webhook::{
    BounceType, DEFAULT_TOLERANCE, EmailEvent, EmailEventKind, ParsedEvents, RejectedEvent,
    SIGNATURE_HEADER, SendGridWebhookVerifier, TIMESTAMP_HEADER, parse_events,
};
