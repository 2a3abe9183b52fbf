//! SendGrid's event webhook: signature verification (ECDSA P-256 / SHA-256
//! over `timestamp + raw body`) and event parsing. Pure: the caller passes
//! the headers, the raw body and the current time.

use super::request::MESSAGE_ID_ARG;
use crate::error::WebhookError;
use crate::signature::check_age;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";
/// How old a signed request may be. Default 5 minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Verifies SendGrid's signed event webhook.
#[derive(Clone, Debug)]
pub struct SendGridWebhookVerifier {
    key: VerifyingKey,
    tolerance: Duration,
}

impl SendGridWebhookVerifier {
    /// `public_key`: the verification key SendGrid shows, base64 DER
    /// SubjectPublicKeyInfo.
    pub fn from_public_key(public_key: &str) -> Result<Self, WebhookError> {
        let der = BASE64
            .decode(public_key.trim())
            .map_err(|e| WebhookError::InvalidKey(format!("not base64: {e}")))?;
        let key = VerifyingKey::from_public_key_der(&der)
            .map_err(|e| WebhookError::InvalidKey(format!("not a P-256 public key: {e}")))?;
        Ok(Self {
            key,
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Accepts the request only if the signature covers this timestamp and
    /// body and the timestamp is within the tolerance of `now`.
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let signature = signature.ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
        let timestamp = timestamp.ok_or(WebhookError::MissingHeader(TIMESTAMP_HEADER))?;
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                reason: "not a unix time in seconds".into(),
            })?;
        let der = BASE64
            .decode(signature.trim())
            .map_err(|_| WebhookError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: "not base64".into(),
            })?;
        let signature = Signature::from_der(&der).map_err(|_| WebhookError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "not a DER-encoded ECDSA signature".into(),
        })?;
        // The signed message is the timestamp header exactly as sent.
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.extend_from_slice(body);
        self.key
            .verify(&signed, &signature)
            .map_err(|_| WebhookError::SignatureMismatch)?;
        check_age(seconds, now, self.tolerance)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceType {
    /// Permanent: the address does not exist. Suppress.
    Bounce,
    /// The receiving server refused this message (often reputation). Do not
    /// suppress the address outright.
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EmailEventKind {
    Processed,
    Dropped {
        reason: Option<String>,
    },
    Delivered {
        response: Option<String>,
    },
    Deferred {
        attempt: Option<u32>,
        response: Option<String>,
    },
    Bounce {
        bounce_type: BounceType,
        reason: Option<String>,
        status: Option<String>,
    },
    /// `machine_open` is SendGrid's `sg_machine_open` (Apple Mail privacy
    /// protection and the like): exclude it from open rates.
    Open {
        machine_open: bool,
    },
    Click {
        url: Option<String>,
    },
    SpamReport,
    Unsubscribe,
    GroupUnsubscribe {
        asm_group_id: Option<i64>,
    },
    GroupResubscribe {
        asm_group_id: Option<i64>,
    },
    /// A type this version does not know; kept, not dropped.
    Other {
        name: String,
    },
}

impl EmailEventKind {
    /// The reason to add the address to the global suppression list, if any.
    pub fn suppression_reason(&self) -> Option<&'static str> {
        match self {
            EmailEventKind::Bounce {
                bounce_type: BounceType::Bounce,
                ..
            } => Some("hard_bounce"),
            EmailEventKind::SpamReport => Some("complaint"),
            EmailEventKind::Unsubscribe | EmailEventKind::GroupUnsubscribe { .. } => {
                Some("unsubscribe")
            }
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmailEvent {
    /// Dedupe key: SendGrid may deliver an event more than once.
    pub sg_event_id: String,
    pub sg_message_id: Option<String>,
    /// Rex's message id from `custom_args`.
    pub message_id: Option<String>,
    pub email: String,
    pub timestamp: DateTime<Utc>,
    pub categories: Vec<String>,
    pub kind: EmailEventKind,
}

impl EmailEvent {
    pub fn dedupe_key(&self) -> &str {
        &self.sg_event_id
    }

    /// The `X-Message-Id` the send returned: `sg_message_id` up to its first dot.
    pub fn x_message_id(&self) -> Option<&str> {
        self.sg_message_id
            .as_deref()
            .and_then(|id| id.split('.').next())
    }
}

/// An event of the array that could not be read; the others still count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedEvent {
    pub index: usize,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedEvents {
    /// Readable events, duplicates (same `sg_event_id`) removed.
    pub events: Vec<EmailEvent>,
    pub duplicates: usize,
    pub rejected: Vec<RejectedEvent>,
}

/// Parses a webhook body (a JSON array of events). Fails only when the body
/// is not a JSON array; bad elements are listed in `rejected`.
pub fn parse_events(body: &[u8]) -> Result<ParsedEvents, WebhookError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::MalformedBody(format!("not json: {e}")))?;
    let Value::Array(items) = value else {
        return Err(WebhookError::MalformedBody("expected a json array".into()));
    };
    let mut parsed = ParsedEvents::default();
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        match parse_event(item) {
            Ok(event) => {
                if seen.insert(event.sg_event_id.clone()) {
                    parsed.events.push(event);
                } else {
                    parsed.duplicates += 1;
                }
            }
            Err(reason) => parsed.rejected.push(RejectedEvent { index, reason }),
        }
    }
    Ok(parsed)
}

fn text(item: &Value, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(item: &Value, key: &str) -> Option<i64> {
    match item.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_event(item: &Value) -> Result<EmailEvent, String> {
    if !item.is_object() {
        return Err("not an object".into());
    }
    let name = text(item, "event").ok_or("missing event")?;
    let sg_event_id = text(item, "sg_event_id").ok_or("missing sg_event_id")?;
    let email = text(item, "email").ok_or("missing email")?;
    let seconds = integer(item, "timestamp").ok_or("missing timestamp")?;
    let timestamp = DateTime::from_timestamp(seconds, 0).ok_or("timestamp out of range")?;
    let categories = match item.get("category") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let kind = match name.as_str() {
        "processed" => EmailEventKind::Processed,
        "dropped" => EmailEventKind::Dropped {
            reason: text(item, "reason"),
        },
        "delivered" => EmailEventKind::Delivered {
            response: text(item, "response"),
        },
        "deferred" => EmailEventKind::Deferred {
            attempt: integer(item, "attempt").and_then(|a| u32::try_from(a).ok()),
            response: text(item, "response"),
        },
        "bounce" => EmailEventKind::Bounce {
            // `type` is "bounce" or "blocked"; older payloads omit it.
            bounce_type: match text(item, "type").as_deref() {
                Some("blocked") => BounceType::Blocked,
                _ => BounceType::Bounce,
            },
            reason: text(item, "reason"),
            status: text(item, "status"),
        },
        "open" => EmailEventKind::Open {
            machine_open: match item.get("sg_machine_open") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s == "true",
                _ => false,
            },
        },
        "click" => EmailEventKind::Click {
            url: text(item, "url"),
        },
        "spamreport" => EmailEventKind::SpamReport,
        "unsubscribe" => EmailEventKind::Unsubscribe,
        "group_unsubscribe" => EmailEventKind::GroupUnsubscribe {
            asm_group_id: integer(item, "asm_group_id"),
        },
        "group_resubscribe" => EmailEventKind::GroupResubscribe {
            asm_group_id: integer(item, "asm_group_id"),
        },
        other => EmailEventKind::Other {
            name: other.to_owned(),
        },
    };
    Ok(EmailEvent {
        sg_event_id,
        sg_message_id: text(item, "sg_message_id"),
        message_id: text(item, MESSAGE_ID_ARG),
        email,
        timestamp,
        categories,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;
    use proptest::prelude::*;

    /// A key pair and its public key as SendGrid shows it: base64 of the
    /// DER SubjectPublicKeyInfo (the fixed P-256 prefix, then the point).
    fn key_pair(seed: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_slice(&[seed; 32]).unwrap();
        let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
        der.extend_from_slice(signing.verifying_key().to_encoded_point(false).as_bytes());
        (signing, BASE64.encode(der))
    }

    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        let signature: Signature = key.sign(&message);
        BASE64.encode(signature.to_der().as_bytes())
    }

    const BODY: &[u8] = br#"[{"email":"lead@acme.example","timestamp":1700000000,"event":"delivered","sg_event_id":"ev1","sg_message_id":"abc.filter1"}]"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_060, 0).unwrap()
    }

    #[test]
    fn a_known_good_signature_passes() {
        let (key, public) = key_pair(7);
        let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
        let sig = sign(&key, "1700000000", BODY);
        assert_eq!(
            verifier.verify(Some(&sig), Some("1700000000"), BODY, now()),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_fails() {
        let (key, public) = key_pair(7);
        let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
        let sig = sign(&key, "1700000000", BODY);
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(
            verifier.verify(Some(&sig), Some("1700000000"), &body, now()),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_fails() {
        let (key, public) = key_pair(7);
        let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
        let sig = sign(&key, "1700000000", BODY);
        assert_eq!(
            verifier.verify(Some(&sig), Some("1700000001"), BODY, now()),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn an_old_timestamp_fails_even_when_correctly_signed() {
        let (key, public) = key_pair(7);
        let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
        let sig = sign(&key, "1699999000", BODY);
        assert_eq!(
            verifier.verify(Some(&sig), Some("1699999000"), BODY, now()),
            Err(WebhookError::TimestampTooOld {
                age_secs: 1060,
                tolerance_secs: 300
            })
        );
        let sig = sign(&key, "1700001000", BODY);
        assert!(matches!(
            verifier.verify(Some(&sig), Some("1700001000"), BODY, now()),
            Err(WebhookError::TimestampInFuture { .. })
        ));
    }

    #[test]
    fn a_wrong_key_fails() {
        let (key, _) = key_pair(7);
        let (_, other_public) = key_pair(9);
        let verifier = SendGridWebhookVerifier::from_public_key(&other_public).unwrap();
        let sig = sign(&key, "1700000000", BODY);
        assert_eq!(
            verifier.verify(Some(&sig), Some("1700000000"), BODY, now()),
            Err(WebhookError::SignatureMismatch)
        );
        assert!(matches!(
            SendGridWebhookVerifier::from_public_key("bm90IGEga2V5"),
            Err(WebhookError::InvalidKey(_))
        ));
    }

    #[test]
    fn malformed_headers_fail_with_the_header_named() {
        let (key, public) = key_pair(7);
        let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
        let sig = sign(&key, "1700000000", BODY);
        assert_eq!(
            verifier.verify(None, Some("1700000000"), BODY, now()),
            Err(WebhookError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            verifier.verify(Some("%%%"), Some("1700000000"), BODY, now()),
            Err(WebhookError::MalformedHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
        assert!(matches!(
            verifier.verify(Some("AAAA"), Some("1700000000"), BODY, now()),
            Err(WebhookError::MalformedHeader {
                header: SIGNATURE_HEADER,
                ..
            })
        ));
        assert!(matches!(
            verifier.verify(Some(&sig), Some("yesterday"), BODY, now()),
            Err(WebhookError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                ..
            })
        ));
    }

    #[test]
    fn every_event_type_is_parsed() {
        let body = br#"[
          {"email":"a@x.io","timestamp":1700000000,"event":"processed","sg_event_id":"e1","sg_message_id":"m1.f","rex_message_id":"rex-1","category":"reactivation"},
          {"email":"a@x.io","timestamp":1700000000,"event":"dropped","sg_event_id":"e2","reason":"Bounced Address"},
          {"email":"a@x.io","timestamp":1700000000,"event":"delivered","sg_event_id":"e3","response":"250 OK"},
          {"email":"a@x.io","timestamp":1700000000,"event":"deferred","sg_event_id":"e4","attempt":"2","response":"400 try later"},
          {"email":"a@x.io","timestamp":1700000000,"event":"bounce","sg_event_id":"e5","type":"bounce","reason":"550 no such user","status":"5.1.1"},
          {"email":"a@x.io","timestamp":1700000000,"event":"bounce","sg_event_id":"e6","type":"blocked","reason":"554 blocked","status":"5.7.1"},
          {"email":"a@x.io","timestamp":1700000000,"event":"open","sg_event_id":"e7","sg_machine_open":true},
          {"email":"a@x.io","timestamp":1700000000,"event":"click","sg_event_id":"e8","url":"https://rex.example/x"},
          {"email":"a@x.io","timestamp":1700000000,"event":"spamreport","sg_event_id":"e9"},
          {"email":"a@x.io","timestamp":1700000000,"event":"unsubscribe","sg_event_id":"e10"},
          {"email":"a@x.io","timestamp":1700000000,"event":"group_unsubscribe","sg_event_id":"e11","asm_group_id":42},
          {"email":"a@x.io","timestamp":1700000000,"event":"group_resubscribe","sg_event_id":"e12","asm_group_id":42},
          {"email":"a@x.io","timestamp":1700000000,"event":"brand_new","sg_event_id":"e13"}
        ]"#;
        let parsed = parse_events(body).unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let kinds: Vec<&EmailEventKind> = parsed.events.iter().map(|e| &e.kind).collect();
        assert_eq!(kinds[0], &EmailEventKind::Processed);
        assert_eq!(parsed.events[0].message_id.as_deref(), Some("rex-1"));
        assert_eq!(parsed.events[0].x_message_id(), Some("m1"));
        assert_eq!(parsed.events[0].categories, vec!["reactivation"]);
        assert!(
            matches!(kinds[1], EmailEventKind::Dropped { reason: Some(r) } if r == "Bounced Address")
        );
        assert!(matches!(kinds[2], EmailEventKind::Delivered { .. }));
        assert!(matches!(
            kinds[3],
            EmailEventKind::Deferred {
                attempt: Some(2),
                ..
            }
        ));
        assert_eq!(kinds[4].suppression_reason(), Some("hard_bounce"));
        assert!(matches!(
            kinds[5],
            EmailEventKind::Bounce {
                bounce_type: BounceType::Blocked,
                ..
            }
        ));
        assert_eq!(kinds[5].suppression_reason(), None);
        assert_eq!(kinds[6], &EmailEventKind::Open { machine_open: true });
        assert!(matches!(kinds[7], EmailEventKind::Click { url: Some(_) }));
        assert_eq!(kinds[8].suppression_reason(), Some("complaint"));
        assert_eq!(kinds[9].suppression_reason(), Some("unsubscribe"));
        assert_eq!(
            kinds[10],
            &EmailEventKind::GroupUnsubscribe {
                asm_group_id: Some(42)
            }
        );
        assert!(matches!(kinds[11], EmailEventKind::GroupResubscribe { .. }));
        assert!(matches!(kinds[12], EmailEventKind::Other { name } if name == "brand_new"));
    }

    #[test]
    fn duplicates_are_dropped_and_bad_events_reported_not_fatal() {
        let body = br#"[
          {"email":"a@x.io","timestamp":1700000000,"event":"open","sg_event_id":"same"},
          {"email":"a@x.io","timestamp":1700000000,"event":"open","sg_event_id":"same"},
          {"email":"a@x.io","event":"open"},
          "nonsense"
        ]"#;
        let parsed = parse_events(body).unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.duplicates, 1);
        assert_eq!(parsed.rejected.len(), 2);
        assert_eq!(parsed.rejected[0].index, 2);
        assert!(matches!(
            parse_events(b"{}"),
            Err(WebhookError::MalformedBody(_))
        ));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_events(&body);
        }

        #[test]
        fn parsing_never_panics_on_arbitrary_event_shapes(
            event in "[a-z_]{0,20}",
            ts in any::<i64>(),
            id in ".{0,10}",
            extra in ".{0,20}",
        ) {
            let body = serde_json::json!([{ "event": event, "timestamp": ts, "sg_event_id": id,
                "email": extra, "attempt": ts, "asm_group_id": extra, "category": [extra, 1] }]);
            let _ = parse_events(body.to_string().as_bytes());
        }

        #[test]
        fn verification_never_panics_on_arbitrary_headers(
            sig in ".{0,120}", ts in ".{0,20}", body in proptest::collection::vec(any::<u8>(), 0..128)
        ) {
            let (_, public) = key_pair(7);
            let verifier = SendGridWebhookVerifier::from_public_key(&public).unwrap();
            prop_assert!(verifier.verify(Some(&sig), Some(&ts), &body, now()).is_err());
        }
    }
}
