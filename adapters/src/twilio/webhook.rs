//! Twilio's inbound requests: `X-Twilio-Signature` verification, status
//! callbacks and inbound messages with STOP/START/HELP detection. Pure.

use super::request::MESSAGE_ID_PARAM;
use crate::error::WebhookError;
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The POST parameters of a form-encoded webhook body, in body order.
/// Never fails: undecodable bytes become U+FFFD, as Twilio never sends them.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Verifies `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, the full URL
/// as Twilio called it, query included, then every POST parameter sorted by
/// name, each as name + value)). Compared in constant time.
pub fn verify_signature(
    auth_token: &Secret,
    url: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<(), WebhookError> {
    let signature = signature.ok_or(WebhookError::MissingHeader(SIGNATURE_HEADER))?;
    let expected = BASE64
        .decode(signature.trim())
        .map_err(|_| WebhookError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "not base64".into(),
        })?;
    if expected.len() != 20 {
        return Err(WebhookError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: format!("{} bytes, an HMAC-SHA1 has 20", expected.len()),
        });
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.expose().as_bytes())
        .map_err(|_| WebhookError::InvalidKey("the auth token cannot key an hmac".into()))?;
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::SignatureMismatch)
}

/// Computes the signature Twilio would send (for tests and local tools).
pub fn sign(auth_token: &Secret, url: &str, params: &[(String, String)]) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(auth_token.expose().as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => return String::new(),
    };
    mac.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn required(params: &[(String, String)], name: &'static str) -> Result<String, WebhookError> {
    param(params, name)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(WebhookError::MissingField(name))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Read,
    Canceled,
    Other(String),
}

impl MessageStatus {
    fn parse(text: &str) -> Self {
        match text {
            "accepted" => Self::Accepted,
            "scheduled" => Self::Scheduled,
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "undelivered" => Self::Undelivered,
            "failed" => Self::Failed,
            "read" => Self::Read,
            "canceled" => Self::Canceled,
            other => Self::Other(other.to_owned()),
        }
    }

    /// No later status will follow.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Undelivered | Self::Failed | Self::Read | Self::Canceled
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusCallback {
    pub message_sid: String,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub to: Option<String>,
    pub from: Option<String>,
    /// Rex's message id, from the callback URL's query.
    pub message_id: Option<String>,
}

impl StatusCallback {
    /// Error 21610: the recipient opted out; suppress on every channel.
    pub fn suppresses_recipient(&self) -> bool {
        self.error_code.as_deref() == Some(super::service::OPTED_OUT_CODE)
    }
}

/// Rex's message id from the query of the URL Twilio called.
pub fn message_id_from_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == MESSAGE_ID_PARAM)
        .map(|(_, v)| v.into_owned())
}

/// Reads a status callback (`MessageSid`, `MessageStatus`, `ErrorCode`).
/// `url` is the URL Twilio called (it carries Rex's message id).
pub fn parse_status_callback(
    url: &str,
    params: &[(String, String)],
) -> Result<StatusCallback, WebhookError> {
    let message_sid = required(params, "MessageSid")?;
    let status = param(params, "MessageStatus")
        .or_else(|| param(params, "SmsStatus"))
        .filter(|s| !s.is_empty())
        .ok_or(WebhookError::MissingField("MessageStatus"))?;
    Ok(StatusCallback {
        message_sid,
        status: MessageStatus::parse(status),
        error_code: param(params, "ErrorCode")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        to: param(params, "To").map(str::to_owned),
        from: param(params, "From").map(str::to_owned),
        message_id: message_id_from_url(url),
    })
}

/// Consent keywords of an inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptKeyword {
    /// Consent revoked: suppress the number on every channel.
    Stop,
    /// Consent given again.
    Start,
    Help,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InboundSms {
    pub message_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub keyword: Option<OptKeyword>,
}

/// Words that revoke consent (Twilio's defaults plus the TCPA list).
const STOP_WORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "OPT-OUT",
];
/// Stop words that also count at the start of a longer reply ("stop
/// texting me"). CANCEL and END are left out: "cancel my meeting" and
/// "end of month works" are not opt-outs.
const STOP_PREFIXES: &[&str] = &["STOP", "UNSUBSCRIBE", "QUIT", "REVOKE", "OPTOUT", "OPT OUT"];
const START_WORDS: &[&str] = &["START", "YES", "UNSTOP"];
const HELP_WORDS: &[&str] = &["HELP", "INFO"];

/// Detects a consent keyword. Revocation errs on the side of the recipient:
/// a stop word alone or leading the reply counts; START and HELP must stand
/// alone, so an ordinary "yes, interested" does not re-subscribe anyone.
pub fn detect_keyword(body: &str) -> Option<OptKeyword> {
    let normalized: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_uppercase();
    if STOP_WORDS.contains(&normalized.as_str()) {
        return Some(OptKeyword::Stop);
    }
    let leads_with = |prefix: &str| {
        normalized.strip_prefix(prefix).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
        })
    };
    if STOP_PREFIXES.iter().any(|p| leads_with(p)) {
        return Some(OptKeyword::Stop);
    }
    if START_WORDS.contains(&normalized.as_str()) {
        return Some(OptKeyword::Start);
    }
    if HELP_WORDS.contains(&normalized.as_str()) {
        return Some(OptKeyword::Help);
    }
    None
}

/// Reads an inbound message (`MessageSid`, `From`, `To`, `Body`). Twilio's
/// own `OptOutType` (Advanced Opt-Out) wins over our detection when present.
pub fn parse_inbound(params: &[(String, String)]) -> Result<InboundSms, WebhookError> {
    let message_sid = param(params, "MessageSid")
        .or_else(|| param(params, "SmsMessageSid"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or(WebhookError::MissingField("MessageSid"))?;
    let from = required(params, "From")?;
    let to = required(params, "To")?;
    let body = param(params, "Body").unwrap_or_default().to_owned();
    let keyword = match param(params, "OptOutType")
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("STOP") => Some(OptKeyword::Stop),
        Some("START") => Some(OptKeyword::Start),
        Some("HELP") => Some(OptKeyword::Help),
        _ => detect_keyword(&body),
    };
    Ok(InboundSms {
        message_sid,
        from,
        to,
        body,
        keyword,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn vector_params() -> Vec<(String, String)> {
        // Deliberately out of order: the signature sorts them.
        pairs(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("Caller", "+12349013030"),
            ("From", "+12349013030"),
        ])
    }

    #[test]
    fn the_documented_twilio_test_vector_passes() {
        let token = Secret::new("12345");
        assert_eq!(
            sign(&token, URL, &vector_params()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert_eq!(
            verify_signature(
                &token,
                URL,
                &vector_params(),
                Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
            ),
            Ok(())
        );
    }

    #[test]
    fn a_changed_parameter_url_or_token_fails() {
        let token = Secret::new("12345");
        let sig = Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        let mut params = vector_params();
        params[2].1 = "1235".into();
        assert_eq!(
            verify_signature(&token, URL, &params, sig),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify_signature(
                &token,
                "https://mycompany.com/myapp.php?foo=1&bar=3",
                &vector_params(),
                sig
            ),
            Err(WebhookError::SignatureMismatch)
        );
        assert_eq!(
            verify_signature(&Secret::new("54321"), URL, &vector_params(), sig),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_missing_or_malformed_header_fails_with_the_header_named() {
        let token = Secret::new("12345");
        assert_eq!(
            verify_signature(&token, URL, &vector_params(), None),
            Err(WebhookError::MissingHeader(SIGNATURE_HEADER))
        );
        assert!(matches!(
            verify_signature(&token, URL, &vector_params(), Some("not base64!")),
            Err(WebhookError::MalformedHeader { .. })
        ));
        assert!(matches!(
            verify_signature(&token, URL, &vector_params(), Some("AAAA")),
            Err(WebhookError::MalformedHeader { .. })
        ));
    }

    #[test]
    fn status_callbacks_carry_status_error_and_rex_message_id() {
        let params = parse_form(
            b"MessageSid=SM123&MessageStatus=undelivered&ErrorCode=21610&To=%2B14155550123&From=%2B14155550100&AccountSid=AC1",
        );
        let cb = parse_status_callback(
            "https://rex.example/hooks/twilio?rex_message_id=m-9",
            &params,
        )
        .unwrap();
        assert_eq!(cb.status, MessageStatus::Undelivered);
        assert!(cb.status.is_final());
        assert!(cb.suppresses_recipient());
        assert_eq!(cb.to.as_deref(), Some("+14155550123"));
        assert_eq!(cb.message_id.as_deref(), Some("m-9"));
        assert_eq!(
            parse_status_callback("https://x", &pairs(&[("MessageStatus", "sent")])),
            Err(WebhookError::MissingField("MessageSid"))
        );
    }

    #[test]
    fn stop_words_revoke_consent_and_start_needs_to_stand_alone() {
        for body in [
            "STOP",
            "stop",
            " Stop. ",
            "unsubscribe",
            "Opt out",
            "QUIT!",
            "stop texting me",
            "STOP ALL",
            "revoke",
            "End",
            "cancel",
        ] {
            assert_eq!(detect_keyword(body), Some(OptKeyword::Stop), "{body}");
        }
        for body in ["START", "yes", "Unstop"] {
            assert_eq!(detect_keyword(body), Some(OptKeyword::Start), "{body}");
        }
        assert_eq!(detect_keyword("help"), Some(OptKeyword::Help));
        for body in [
            "yes, interested!",
            "cancel my meeting please",
            "end of month works",
            "stopwatch",
            "Sounds good",
            "",
        ] {
            assert_eq!(detect_keyword(body), None, "{body}");
        }
    }

    #[test]
    fn inbound_messages_prefer_twilios_own_opt_out_type() {
        let params = parse_form(
            b"MessageSid=SM1&From=%2B14155550123&To=%2B14155550100&Body=arret&OptOutType=STOP",
        );
        let inbound = parse_inbound(&params).unwrap();
        assert_eq!(inbound.keyword, Some(OptKeyword::Stop));
        assert_eq!(inbound.from, "+14155550123");
        let params = parse_form(b"MessageSid=SM2&From=%2B1&To=%2B2&Body=Tell+me+more");
        assert_eq!(parse_inbound(&params).unwrap().keyword, None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), url in ".{0,80}") {
            let params = parse_form(&body);
            let _ = parse_status_callback(&url, &params);
            let _ = parse_inbound(&params);
            let _ = message_id_from_url(&url);
            let _ = verify_signature(&Secret::new("12345"), &url, &params, Some(&url));
        }

        #[test]
        fn keyword_detection_never_panics(body in "\\PC{0,60}") {
            let _ = detect_keyword(&body);
        }
    }
}
