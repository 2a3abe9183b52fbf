//! Channels, consent and country rules shared by the agents.
//!
//! Country rules (DOMAIN.md, "Compliance that the engine must enforce"):
//! - GDPR Art. 14 applies to data not collected from the person: the first contact names
//!   the source. Rex applies it to the EU-27, the EEA (IS, LI, NO) and the UK (UK GDPR has
//!   the same article).
//! - Germany (UWG §7) needs prior consent for email advertising even to businesses.
//! - SMS marketing needs prior express consent (TCPA); Rex asks for it in every country
//!   (chosen: texts are the most intrusive channel and the rule is simplest to audit).

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A way to reach a lead. LinkedIn steps are human tasks (LinkedIn's User Agreement
/// forbids automated messaging, DOMAIN.md): Rex creates the task and waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Linkedin,
}

/// What the lead told us about one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    /// Explicit opt-in on record.
    Granted,
    /// Nothing on record (the normal case for a cold B2B lead).
    #[default]
    Unknown,
    /// Objected or opted out (GDPR Art. 21 is absolute).
    Denied,
}

/// Consent per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsentFlags {
    pub email: Consent,
    pub sms: Consent,
    pub linkedin: Consent,
}

impl ConsentFlags {
    pub fn for_channel(&self, channel: Channel) -> Consent {
        match channel {
            Channel::Email => self.email,
            Channel::Sms => self.sms,
            Channel::Linkedin => self.linkedin,
        }
    }
}

/// EU-27 + EEA + UK, ISO 3166-1 alpha-2 (Greece as both `GR` and the EU's `EL`).
const GDPR_COUNTRIES: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "EL", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", // EU-27
    "IS", "LI", "NO", // EEA
    "GB", "UK", // United Kingdom
];

/// Countries where email advertising to businesses needs prior consent: Germany (UWG §7,
/// DOMAIN.md). Kept as a list so legal can add others without touching the gate.
const EMAIL_PRIOR_CONSENT_COUNTRIES: &[&str] = &["DE"];

fn normalized(country: &str) -> String {
    country.trim().to_ascii_uppercase()
}

/// Whether GDPR Art. 14 (notice naming the data source at first contact) applies.
pub fn is_gdpr_country(country: &str) -> bool {
    GDPR_COUNTRIES.contains(&normalized(country).as_str())
}

/// Whether email advertising needs prior opt-in consent in this country.
pub fn email_needs_prior_consent(country: &str) -> bool {
    EMAIL_PRIOR_CONSENT_COUNTRIES.contains(&normalized(country).as_str())
}

/// Parses an IANA zone name such as `Europe/Berlin`.
pub fn parse_tz(zone: &str) -> Result<Tz, DomainError> {
    zone.trim()
        .parse::<Tz>()
        .map_err(|_| DomainError::UnknownTimeZone {
            zone: zone.to_owned(),
        })
}

/// Whether a string looks like an E.164 number: `+`, then 8 to 15 digits, first not 0.
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A minimal syntactic email check: one `@`, a non-empty local part, a dotted domain,
/// no whitespace. Deliverability is the verifier's job, not this function's.
pub fn is_email_address(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdpr_covers_eu_eea_and_uk_case_insensitively() {
        for c in ["de", "FR", " ie ", "NO", "IS", "LI", "GB", "uk"] {
            assert!(is_gdpr_country(c), "{c}");
        }
        for c in ["US", "CH", "CA", "", "XX"] {
            assert!(!is_gdpr_country(c), "{c}");
        }
    }

    #[test]
    fn only_germany_needs_prior_email_consent() {
        assert!(email_needs_prior_consent("de"));
        assert!(!email_needs_prior_consent("FR"));
        assert!(!email_needs_prior_consent("US"));
    }

    #[test]
    fn e164_accepts_plus_and_8_to_15_digits() {
        assert!(is_e164("+12349013030"));
        assert!(is_e164("+49301234"));
        assert!(!is_e164("+4930123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("12349013030"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1 234 901 3030"));
    }

    #[test]
    fn email_syntax_check_rejects_obvious_garbage() {
        assert!(is_email_address("ana@acme.io"));
        assert!(!is_email_address("ana@acme"));
        assert!(!is_email_address("@acme.io"));
        assert!(!is_email_address("ana@@acme.io"));
        assert!(!is_email_address("an a@acme.io"));
    }

    #[test]
    fn time_zone_names_parse_or_name_the_culprit() {
        assert!(parse_tz("Europe/Berlin").is_ok());
        assert_eq!(
            parse_tz("Mars/Olympus").unwrap_err().to_string(),
            "unknown time zone \"Mars/Olympus\""
        );
    }
}
