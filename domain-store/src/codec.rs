//! Pure conversions at the edge between `rex-domain`'s enums and the text columns that
//! hold them, and the address key of the suppression ledger.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::DomainStoreError;

/// The snake_case name serde gives a unit enum variant (`HardBounce` → `hard_bounce`),
/// which is what the database stores.
pub fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<unserializable: {e}>"),
    }
}

/// Parses a snake_case enum name; `None` when it names no variant.
pub fn parse_enum<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// [`parse_enum`] for a stored value: an unknown one is a [`DomainStoreError::Corrupt`].
pub(crate) fn stored_enum<T: DeserializeOwned>(
    table: &'static str,
    column: &'static str,
    text: &str,
) -> Result<T, DomainStoreError> {
    parse_enum(text).ok_or_else(|| DomainStoreError::Corrupt {
        table,
        column,
        value: text.to_owned(),
    })
}

/// The suppression ledger's key of an address: hex SHA-256 of the normalized address
/// (lower-case email, or a phone with only `+` and digits; see
/// `rex_domain::outreach::normalize_address`). Kept after an erasure, so a person stays
/// suppressed without Rex keeping their address.
pub fn address_hash(address: &str) -> String {
    let normalized = rex_domain::outreach::normalize_address(address);
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

#[cfg(test)]
mod tests {
    use rex_domain::Channel;
    use rex_domain::outreach::SuppressionReason;

    use super::*;

    #[test]
    fn enums_round_trip_through_their_snake_case_names() {
        assert_eq!(enum_text(&SuppressionReason::HardBounce), "hard_bounce");
        assert_eq!(
            parse_enum::<SuppressionReason>("sms_stop"),
            Some(SuppressionReason::SmsStop)
        );
        assert_eq!(enum_text(&Channel::Email), "email");
        assert_eq!(parse_enum::<Channel>("fax"), None);
    }

    #[test]
    fn address_hashes_ignore_case_whitespace_and_phone_punctuation() {
        assert_eq!(address_hash(" Ana@Acme.io "), address_hash("ana@acme.io"));
        assert_eq!(
            address_hash("+1 (234) 901-3030"),
            address_hash("+12349013030")
        );
        assert_ne!(address_hash("ana@acme.io"), address_hash("bob@acme.io"));
        assert_eq!(address_hash("ana@acme.io").len(), 64);
    }

    #[test]
    fn unknown_stored_values_are_reported_not_panicked_on() {
        let err = stored_enum::<Channel>("messages", "channel", "pigeon").unwrap_err();
        assert_eq!(
            err.to_string(),
            "messages.channel: unknown stored value \"pigeon\""
        );
    }
}
