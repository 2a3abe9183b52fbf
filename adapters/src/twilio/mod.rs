//! Twilio Messaging: sending SMS (form-encoded, Basic auth) and the
//! requests Twilio sends back (status callbacks, inbound messages), with
//! `X-Twilio-Signature` verification.

mod config;
mod request;
mod service;
mod webhook;

pub use config::{DEFAULT_BASE_URL, SenderId, TwilioConfig};
pub use request::{MESSAGE_ID_PARAM, build_send};
pub use service::{OPTED_OUT_CODE, TwilioClient};
pub use webhook::{
    InboundSms, MessageStatus, OptKeyword, SIGNATURE_HEADER, StatusCallback, detect_keyword,
    message_id_from_url, parse_form, parse_inbound, parse_status_callback, sign, verify_signature,
};
