//! Calendly's webhooks: `Calendly-Webhook-Signature` verification
//! (`t=<unix>,v1=<hex>`, HMAC-SHA256 of `"<t>." + body`, constant-time
//! compare, timestamp tolerance) and `invitee.created` / `invitee.canceled`
//! parsing. Pure.

use crate::error::WebhookError;
use crate::secret::Secret;
use crate::signature::check_age;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "Calendly-Webhook-Signature";
/// How old a signed request may be. Default 3 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(180);

#[derive(Clone, Debug)]
pub struct CalendlyWebhookVerifier {
    signing_key: Secret,
    tolerance: Duration,
}

impl CalendlyWebhookVerifier {
    pub fn new(signing_key: impl Into<Secret>) -> Self {
        Self {
            signing_key: signing_key.into(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let header = header.ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
        let malformed = |reason: &str| WebhookError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: reason.to_owned(),
        };
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| malformed("expected t=<unix>,v1=<hex>"))?;
            match name {
                "t" => timestamp = Some(value),
                "v1" => {
                    signatures.push(hex::decode(value).map_err(|_| malformed("v1 is not hex"))?)
                }
                _ => {} // Future schemes (v2…) are ignored, as Calendly advises.
            }
        }
        let timestamp = timestamp.ok_or_else(|| malformed("no t= part"))?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| malformed("t is not a unix time"))?;
        if signatures.is_empty() {
            return Err(malformed("no v1= part"));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.signing_key.expose().as_bytes())
            .map_err(|_| WebhookError::InvalidKey("the signing key cannot key an hmac".into()))?;
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time; try each v1 on a clone.
        let matched = signatures
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok());
        if !matched {
            return Err(WebhookError::SignatureMismatch);
        }
        check_age(seconds, now, self.tolerance)
    }

    /// The header Calendly would send (for tests and local tools).
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.signing_key.expose().as_bytes()) {
            Ok(mac) => mac,
            // HMAC takes keys of any length; this arm cannot run.
            Err(_) => return String::new(),
        };
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "t={timestamp},v1={}",
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingEventKind {
    /// `invitee.created`: a meeting was booked (also the new half of a reschedule).
    Created,
    /// `invitee.canceled`: cancelled, or the old half of a reschedule
    /// (`rescheduled` is then true).
    Canceled,
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookingEvent {
    pub kind: BookingEventKind,
    pub invitee_uri: String,
    pub scheduled_event_uri: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `tracking.utm_content`: the lead or mission id put in the link.
    pub tracking: Option<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub rescheduled: bool,
    pub cancel_reason: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Envelope {
    event: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    payload: Payload,
}

#[derive(Deserialize)]
struct Payload {
    uri: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// The scheduled event: a URI string in current payloads.
    #[serde(default)]
    event: Option<serde_json::Value>,
    #[serde(default)]
    rescheduled: Option<bool>,
    #[serde(default)]
    tracking: Option<Tracking>,
    #[serde(default)]
    cancellation: Option<Cancellation>,
    #[serde(default)]
    scheduled_event: Option<ScheduledEvent>,
}

#[derive(Deserialize)]
struct Tracking {
    #[serde(default)]
    utm_content: Option<String>,
}

#[derive(Deserialize)]
struct Cancellation {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct ScheduledEvent {
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    end_time: Option<DateTime<Utc>>,
}

/// Parses a webhook body. Call [`CalendlyWebhookVerifier::verify`] first.
pub fn parse_event(body: &[u8]) -> Result<BookingEvent, WebhookError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| WebhookError::MalformedBody(e.to_string()))?;
    let kind = match envelope.event.as_str() {
        "invitee.created" => BookingEventKind::Created,
        "invitee.canceled" => BookingEventKind::Canceled,
        other => BookingEventKind::Other(other.to_owned()),
    };
    let p = envelope.payload;
    let scheduled = p.scheduled_event;
    let scheduled_event_uri = scheduled
        .as_ref()
        .and_then(|s| s.uri.clone())
        .or_else(|| p.event.as_ref().and_then(|e| e.as_str().map(str::to_owned)));
    Ok(BookingEvent {
        kind,
        invitee_uri: p.uri,
        scheduled_event_uri,
        email: p.email,
        name: p.name,
        tracking: p
            .tracking
            .and_then(|t| t.utm_content)
            .filter(|t| !t.is_empty()),
        start_time: scheduled.as_ref().and_then(|s| s.start_time),
        end_time: scheduled.as_ref().and_then(|s| s.end_time),
        rescheduled: p.rescheduled.unwrap_or(false),
        cancel_reason: p.cancellation.and_then(|c| c.reason),
        created_at: envelope.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &str = "whsec-calendly-test-key";
    const BODY: &[u8] = br#"{"created_at":"2027-01-15T08:00:00.000000Z","created_by":"https://api.calendly.com/users/U1","event":"invitee.created","payload":{"cancel_url":"https://calendly.com/cancellations/I1","email":"lee@acme.example","event":"https://api.calendly.com/scheduled_events/E1","name":"Lee Doe","rescheduled":false,"status":"active","timezone":"Europe/Berlin","tracking":{"utm_campaign":null,"utm_source":"rex","utm_medium":null,"utm_content":"lead-42","utm_term":null},"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","scheduled_event":{"uri":"https://api.calendly.com/scheduled_events/E1","start_time":"2027-01-20T09:00:00.000000Z","end_time":"2027-01-20T09:30:00.000000Z"}}}"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_030, 0).unwrap()
    }

    fn verifier() -> CalendlyWebhookVerifier {
        CalendlyWebhookVerifier::new(KEY)
    }

    #[test]
    fn a_known_good_signature_passes() {
        let header = verifier().sign(1_800_000_000, BODY);
        assert_eq!(verifier().verify(Some(&header), BODY, now()), Ok(()));
    }

    #[test]
    fn a_vector_computed_outside_this_crate_passes() {
        // python3: hmac.new(KEY, b'1800000000.{"event":"invitee.created"}', sha256).hexdigest()
        let header =
            "t=1800000000,v1=904db3873814ee0fdcdfde1517a9e3e1ca120baa438e5f39342a1b2c38f0ccb7";
        let body = br#"{"event":"invitee.created"}"#;
        assert_eq!(verifier().verify(Some(header), body, now()), Ok(()));
        assert_eq!(verifier().sign(1_800_000_000, body), header);
    }

    #[test]
    fn a_changed_body_fails() {
        let header = verifier().sign(1_800_000_000, BODY);
        let body = String::from_utf8_lossy(BODY).replace("lead-42", "lead-43");
        assert_eq!(
            verifier().verify(Some(&header), body.as_bytes(), now()),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_fails() {
        let header = verifier()
            .sign(1_800_000_000, BODY)
            .replace("t=1800000000", "t=1800000001");
        assert_eq!(
            verifier().verify(Some(&header), BODY, now()),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn an_old_timestamp_fails() {
        let header = verifier().sign(1_799_999_000, BODY);
        assert_eq!(
            verifier().verify(Some(&header), BODY, now()),
            Err(WebhookError::TimestampTooOld {
                age_secs: 1030,
                tolerance_secs: 180
            })
        );
    }

    #[test]
    fn a_wrong_key_fails() {
        let header = CalendlyWebhookVerifier::new("another-key").sign(1_800_000_000, BODY);
        assert_eq!(
            verifier().verify(Some(&header), BODY, now()),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn malformed_headers_fail_with_the_header_named() {
        for header in [
            "",
            "t=1800000000",
            "v1=abcd",
            "t=soon,v1=abcd",
            "t=1800000000,v1=zz",
            "garbage",
        ] {
            assert!(
                matches!(
                    verifier().verify(Some(header), BODY, now()),
                    Err(WebhookError::MalformedHeader {
                        header: SIGNATURE_HEADER,
                        ..
                    })
                ),
                "{header:?}"
            );
        }
        assert_eq!(
            verifier().verify(None, BODY, now()),
            Err(WebhookError::MissingHeader(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn invitee_created_maps_back_to_the_lead() {
        let event = parse_event(BODY).unwrap();
        assert_eq!(event.kind, BookingEventKind::Created);
        assert_eq!(event.tracking.as_deref(), Some("lead-42"));
        assert_eq!(event.email.as_deref(), Some("lee@acme.example"));
        assert_eq!(
            event.scheduled_event_uri.as_deref(),
            Some("https://api.calendly.com/scheduled_events/E1")
        );
        assert!(event.start_time.is_some());
    }

    #[test]
    fn invitee_canceled_carries_the_reason_and_reschedule_flag() {
        let body = br#"{"event":"invitee.canceled","payload":{"uri":"https://api.calendly.com/scheduled_events/E1/invitees/I1","event":"https://api.calendly.com/scheduled_events/E1","rescheduled":true,"tracking":{"utm_content":"lead-42"},"cancellation":{"canceled_by":"Lee Doe","reason":"clash","canceler_type":"invitee"}}}"#;
        let event = parse_event(body).unwrap();
        assert_eq!(event.kind, BookingEventKind::Canceled);
        assert!(event.rescheduled);
        assert_eq!(event.cancel_reason.as_deref(), Some("clash"));
        assert_eq!(
            event.scheduled_event_uri.as_deref(),
            Some("https://api.calendly.com/scheduled_events/E1")
        );
        assert!(matches!(
            parse_event(b"{\"event\":1}"),
            Err(WebhookError::MalformedBody(_))
        ));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_event(&body);
        }

        #[test]
        fn verification_never_panics_on_arbitrary_headers(header in "\\PC{0,120}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!(verifier().verify(Some(&header), &body, now()).is_err());
        }
    }
}
