//! Signed one-click unsubscribe tokens (RFC 8058): the last path segment of the
//! `List-Unsubscribe` URL of every email.
//!
//! A token names the tenant and the message (`<mission>:<step>`) it was sent with, and
//! carries an HMAC-SHA256 of both under the deployment's secret
//! (`REX_UNSUBSCRIBE_SECRET`), so nobody can unsubscribe an address by guessing a
//! message id. Format: `base64url(tenant uuid bytes ‖ message id) "." base64url(mac)`,
//! unpadded; the MAC is checked in constant time (`hmac`'s `verify_slice`).
//!
//! [`DEV_SECRET`] is what runs when no secret is configured: fine for dry-run and tests,
//! refused by the live send path (agents' `Outreach::from_config`) and by anything else
//! that serves real recipients.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The development secret, used when `REX_UNSUBSCRIBE_SECRET` is unset. Clearly not a
/// secret: tokens signed with it are forgeable by anyone who reads this file.
pub const DEV_SECRET: &str = "rex-dev-unsubscribe-secret (NOT FOR PRODUCTION)";

/// The shortest configured secret accepted, in bytes (chosen: 256 bits, the MAC's size).
pub const MIN_SECRET_LEN: usize = 32;

/// The longest message id a token may carry (chosen: mission UUID + step id fits easily).
pub const MAX_MESSAGE_ID: usize = 512;

type HmacSha256 = Hmac<Sha256>;

/// The configured secret, kept out of `Debug` output (configurations are logged).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(String);

impl SigningKey {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// [`DEV_SECRET`].
    pub fn development() -> Self {
        Self(DEV_SECRET.to_owned())
    }

    pub fn is_development(&self) -> bool {
        self.0 == DEV_SECRET
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Default for SigningKey {
    fn default() -> Self {
        Self::development()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_development() {
            f.write_str("SigningKey(development)")
        } else {
            f.write_str("SigningKey([redacted])")
        }
    }
}

/// Why a token was refused. Callers answer every one the same way (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not of the form <payload>.<signature>")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
}

/// A configured secret is long enough and not the development one.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret == DEV_SECRET {
        return Err("is the development default; set a secret of your own".into());
    }
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!("must be at least {MIN_SECRET_LEN} bytes"));
    }
    Ok(())
}

fn mac(secret: &str, payload: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this never fails
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(payload);
    mac
}

/// The token for `message_id` of `tenant`.
pub fn sign(secret: &str, tenant: Uuid, message_id: &str) -> String {
    let mut payload = tenant.as_bytes().to_vec();
    payload.extend_from_slice(message_id.as_bytes());
    let tag = mac(secret, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The tenant and message id a token was signed for, if its signature holds.
pub fn verify(secret: &str, token: &str) -> Result<(Uuid, String), TokenError> {
    let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
    // bounded before decoding: a token is a URL segment, never megabytes
    if payload.len() > (16 + MAX_MESSAGE_ID) * 4 / 3 + 4 || tag.len() > 64 {
        return Err(TokenError::Malformed);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    mac(secret, &payload)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    if payload.len() <= 16 {
        return Err(TokenError::Malformed);
    }
    let (tenant, message) = payload.split_at(16);
    let tenant = Uuid::from_slice(tenant).map_err(|_| TokenError::Malformed)?;
    let message = String::from_utf8(message.to_vec()).map_err(|_| TokenError::Malformed)?;
    Ok((tenant, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    #[test]
    fn a_signed_token_verifies_to_what_was_signed() {
        let tenant = Uuid::now_v7();
        let token = sign(SECRET, tenant, "0190b6d2-aaaa:send_1");
        assert_eq!(
            verify(SECRET, &token),
            Ok((tenant, "0190b6d2-aaaa:send_1".to_owned()))
        );
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token} is not URL-safe"
        );
    }

    #[test]
    fn another_secret_or_a_bad_shape_is_refused() {
        let token = sign(SECRET, Uuid::nil(), "m:s");
        assert_eq!(
            verify("another secret of thirty-two bytes!!", &token),
            Err(TokenError::BadSignature)
        );
        for bad in ["", "abc", "a.b.c", "!!.??", &"A".repeat(5000)] {
            assert!(verify(SECRET, bad).is_err(), "{bad:?}");
        }
        // a valid signature over a payload too short to hold a tenant
        let short = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"x"),
            URL_SAFE_NO_PAD.encode(mac(SECRET, b"x").finalize().into_bytes())
        );
        assert_eq!(verify(SECRET, &short), Err(TokenError::Malformed));
    }

    #[test]
    fn a_signing_key_never_shows_its_secret() {
        let key = SigningKey::new(SECRET);
        assert!(!format!("{key:?}").contains("0123"));
        assert!(SigningKey::default().is_development());
    }

    #[test]
    fn the_development_secret_and_short_secrets_are_refused_for_production() {
        assert!(check_secret(DEV_SECRET).is_err());
        assert!(check_secret("short").is_err());
        assert!(check_secret(SECRET).is_ok());
    }

    proptest! {
        #[test]
        fn any_tampered_token_fails(
            tenant in any::<u128>(),
            message in "[a-z0-9:_-]{1,80}",
            at in any::<prop::sample::Index>(),
            with in any::<u8>(),
        ) {
            let token = sign(SECRET, Uuid::from_u128(tenant), &message);
            let mut bytes = token.clone().into_bytes();
            let i = at.index(bytes.len());
            let replacement = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                [usize::from(with) % 65];
            prop_assume!(bytes[i] != replacement);
            bytes[i] = replacement;
            let tampered = String::from_utf8(bytes).unwrap();
            // base64 decoding here refuses non-canonical trailing bits, so every
            // change of a character is a different token
            prop_assert!(verify(SECRET, &tampered).is_err(), "{} verified", tampered);
        }

        #[test]
        fn signing_round_trips(tenant in any::<u128>(), message in "\\PC{1,100}") {
            let token = sign(SECRET, Uuid::from_u128(tenant), &message);
            prop_assert_eq!(verify(SECRET, &token), Ok((Uuid::from_u128(tenant), message)));
        }
    }
}
