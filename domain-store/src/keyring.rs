//! The keyring of tenant secrets at rest: XChaCha20-Poly1305 under named keys, pure.
//!
//! Keys come from `REX_SECRETS_KEYS` (mounted from a Kubernetes secret), a
//! comma-separated list of `key_id:base64_key`, the **first one active**:
//!
//! ```text
//! REX_SECRETS_KEYS="k2026b:3q2+7w…=,k2026a:q83v…="
//! ```
//!
//! A key id is 1 to 32 characters of `A-Z a-z 0-9 _ -`; a key is 32 random bytes in
//! standard base64 (`openssl rand -base64 32`). New values are sealed with the active
//! key; older keys stay listed only to open what they sealed until `rex secrets rotate`
//! has re-sealed it, after which they can be removed.
//!
//! Each value gets a random 192-bit nonce and is bound to its tenant and name as
//! associated data, so a ciphertext copied to another tenant's row or another name
//! does not open. The sealed value records its key id; a missing key is named in the
//! error. There is no built-in key: without the variable, secret storage is disabled
//! ([`KeyringError::Disabled`]); [`Keyring::ephemeral_dev`] is the one exception, an
//! explicitly labelled random key for throw-away development databases.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use uuid::Uuid;

/// The environment variable holding the keys.
pub const KEYS_ENV: &str = "REX_SECRETS_KEYS";
/// The key id of [`Keyring::ephemeral_dev`]: what it sealed is unreadable after a
/// restart, and the id says so wherever it is listed.
pub const DEV_EPHEMERAL_KEY_ID: &str = "dev-ephemeral";
/// Bytes of a key.
pub const KEY_LEN: usize = 32;
/// Bytes of a nonce (XChaCha20: 192 bits, safe to draw at random).
pub const NONCE_LEN: usize = 24;
const MAX_KEY_ID_LEN: usize = 32;

/// Why a keyring could not be built or a value not be sealed or opened. Never carries
/// key material nor plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error(
        "secret storage is disabled: set {KEYS_ENV} to `key_id:base64_32_byte_key[,older_id:older_key…]` (the first is active)"
    )]
    Disabled,
    #[error("{KEYS_ENV}: entry {entry} {why}")]
    Format { entry: usize, why: String },
    #[error("no key {key_id:?} in the keyring (known: {known}); it sealed this value")]
    UnknownKey { key_id: String, known: String },
    #[error(
        "the value sealed under key {key_id:?} does not open: tampered with, or moved to another tenant or name"
    )]
    Decrypt { key_id: String },
    #[error("the sealed value is malformed: {0}")]
    Malformed(String),
}

/// A value sealed by [`Keyring::seal`]: what `tenant_secrets` stores.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    /// The ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Named keys, the first active. Cheap to clone; `Debug` lists key ids only.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Key)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The associated data binding a value to its tenant and name.
fn aad(tenant_id: Uuid, name: &str) -> Vec<u8> {
    format!("rex-secret:v1:{tenant_id}:{name}").into_bytes()
}

impl Keyring {
    /// Parses the `REX_SECRETS_KEYS` format (see the module doc). Errors name the
    /// entry (1-based) and never echo a key.
    pub fn parse(spec: &str) -> Result<Keyring, KeyringError> {
        let mut keys: Vec<(String, Key)> = Vec::new();
        for (i, entry) in spec.split(',').enumerate() {
            let entry_no = i + 1;
            let bad = |why: &str| KeyringError::Format {
                entry: entry_no,
                why: why.to_owned(),
            };
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(bad("is empty"));
            }
            let (id, b64) = entry
                .split_once(':')
                .ok_or_else(|| bad("is not `key_id:base64_key`"))?;
            let id = id.trim();
            if !valid_key_id(id) {
                return Err(bad(
                    "has a key id that is not 1 to 32 characters of A-Z, a-z, 0-9, _ and -",
                ));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(KeyringError::Format {
                    entry: entry_no,
                    why: format!("repeats key id {id:?}"),
                });
            }
            let bytes = STANDARD
                .decode(b64.trim())
                .map_err(|_| bad("has a key that is not standard base64"))?;
            if bytes.len() != KEY_LEN {
                return Err(KeyringError::Format {
                    entry: entry_no,
                    why: format!(
                        "has a key of {} bytes; keys are {KEY_LEN} random bytes",
                        bytes.len()
                    ),
                });
            }
            let bytes: [u8; KEY_LEN] = bytes
                .try_into()
                .map_err(|_| bad("has a key of the wrong length"))?;
            keys.push((id.to_owned(), Key::from(bytes)));
        }
        Ok(Keyring { keys })
    }

    /// The keyring of `REX_SECRETS_KEYS`; [`KeyringError::Disabled`] when it is unset
    /// or blank.
    pub fn from_env() -> Result<Keyring, KeyringError> {
        Self::from_var(std::env::var(KEYS_ENV).ok().as_deref())
    }

    /// [`Keyring::from_env`] on a given value of the variable.
    pub fn from_var(value: Option<&str>) -> Result<Keyring, KeyringError> {
        match value {
            Some(spec) if !spec.trim().is_empty() => Self::parse(spec),
            _ => Err(KeyringError::Disabled),
        }
    }

    /// A random key under the id [`DEV_EPHEMERAL_KEY_ID`], for development databases
    /// only: what it seals is lost with the process.
    pub fn ephemeral_dev() -> Keyring {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Keyring {
            keys: vec![(DEV_EPHEMERAL_KEY_ID.to_owned(), Key::from(bytes))],
        }
    }

    /// The id new values are sealed under.
    pub fn active_key_id(&self) -> &str {
        &self.keys[0].0
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn key(&self, key_id: &str) -> Result<&Key, KeyringError> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, key)| key)
            .ok_or_else(|| KeyringError::UnknownKey {
                key_id: key_id.to_owned(),
                known: self.key_ids().join(", "),
            })
    }

    /// Seals `plaintext` for `tenant_id`'s secret `name` under the active key, with a
    /// fresh random nonce.
    pub fn seal(
        &self,
        tenant_id: Uuid,
        name: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, KeyringError> {
        let (key_id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = XChaCha20Poly1305::new(key)
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad(tenant_id, name),
                },
            )
            .map_err(|_| KeyringError::Malformed("the value could not be sealed".into()))?;
        Ok(Sealed {
            key_id: key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a value sealed for `tenant_id`'s secret `name`, under whichever key of the
    /// ring sealed it.
    pub fn open(
        &self,
        tenant_id: Uuid,
        name: &str,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, KeyringError> {
        let key = self.key(&sealed.key_id)?;
        let nonce: [u8; NONCE_LEN] = sealed.nonce.as_slice().try_into().map_err(|_| {
            KeyringError::Malformed(format!(
                "a nonce of {} bytes (expected {NONCE_LEN})",
                sealed.nonce.len()
            ))
        })?;
        XChaCha20Poly1305::new(key)
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad(tenant_id, name),
                },
            )
            .map_err(|_| KeyringError::Decrypt {
                key_id: sealed.key_id.clone(),
            })
    }

    /// Whether `sealed` is under another key than the active one (what a rotation
    /// re-seals).
    pub fn needs_rotation(&self, sealed_key_id: &str) -> bool {
        sealed_key_id != self.active_key_id()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn b64(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    #[test]
    fn a_value_round_trips_under_the_active_key() {
        let ring = ring(&format!("new:{},old:{}", b64(1), b64(2)));
        let tenant = Uuid::now_v7();
        let sealed = ring.seal(tenant, "sendgrid.api_key", b"SG.secret").unwrap();
        assert_eq!(sealed.key_id, "new");
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert!(!sealed.ciphertext.windows(9).any(|w| w == b"SG.secret"));
        assert_eq!(
            ring.open(tenant, "sendgrid.api_key", &sealed).unwrap(),
            b"SG.secret"
        );
        // a fresh nonce each time
        let again = ring.seal(tenant, "sendgrid.api_key", b"SG.secret").unwrap();
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn another_tenant_or_name_does_not_open() {
        let ring = ring(&format!("k1:{}", b64(1)));
        let tenant = Uuid::now_v7();
        let sealed = ring.seal(tenant, "twilio.auth_token", b"tok").unwrap();
        let expected = KeyringError::Decrypt {
            key_id: "k1".into(),
        };
        assert_eq!(
            ring.open(Uuid::now_v7(), "twilio.auth_token", &sealed),
            Err(expected.clone())
        );
        assert_eq!(
            ring.open(tenant, "sendgrid.api_key", &sealed),
            Err(expected)
        );
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let old = ring(&format!("old:{}", b64(2)));
        let tenant = Uuid::now_v7();
        let sealed = old.seal(tenant, "llm.api_key", b"x").unwrap();
        let new = ring(&format!("new:{}", b64(1)));
        let err = new.open(tenant, "llm.api_key", &sealed).unwrap_err();
        assert_eq!(
            err,
            KeyringError::UnknownKey {
                key_id: "old".into(),
                known: "new".into()
            }
        );
        assert!(err.to_string().contains("\"old\""), "{err}");
        // the old key, listed second, still opens it
        let both = ring(&format!("new:{},old:{}", b64(1), b64(2)));
        assert_eq!(both.open(tenant, "llm.api_key", &sealed).unwrap(), b"x");
        assert!(both.needs_rotation(&sealed.key_id));
    }

    #[test]
    fn tampering_fails() {
        let ring = ring(&format!("k1:{}", b64(1)));
        let tenant = Uuid::now_v7();
        let sealed = ring.seal(tenant, "calendly.token", b"value").unwrap();
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 1;
            assert!(ring.open(tenant, "calendly.token", &bad).is_err());
        }
        let mut bad = sealed.clone();
        bad.nonce[0] ^= 1;
        assert!(ring.open(tenant, "calendly.token", &bad).is_err());
        let mut short = sealed;
        short.nonce.pop();
        assert!(matches!(
            ring.open(tenant, "calendly.token", &short),
            Err(KeyringError::Malformed(_))
        ));
    }

    #[test]
    fn the_variable_is_required_and_checked_without_echoing_keys() {
        assert_eq!(Keyring::from_var(None).unwrap_err(), KeyringError::Disabled);
        assert_eq!(
            Keyring::from_var(Some("  ")).unwrap_err(),
            KeyringError::Disabled
        );
        let short = STANDARD.encode([7u8; 16]);
        for (spec, entry) in [
            (format!("k1:{}", short), 1),
            (format!("k1:{},nocolon", b64(1)), 2),
            (format!("k1:{},k1:{}", b64(1), b64(2)), 2),
            (format!("bad id:{}", b64(1)), 1),
            (format!("k1:{},", b64(1)), 2),
            ("k1:not*base64".to_owned(), 1),
        ] {
            let err = Keyring::parse(&spec).unwrap_err();
            assert!(
                matches!(err, KeyringError::Format { entry: e, .. } if e == entry),
                "{spec}: {err}"
            );
            assert!(!err.to_string().contains(&short), "{err}");
            assert!(!err.to_string().contains(&b64(1)), "{err}");
        }
        let ok = Keyring::from_var(Some(&format!(" a:{} , b:{} ", b64(1), b64(2)))).unwrap();
        assert_eq!(ok.key_ids(), ["a", "b"]);
        assert_eq!(ok.active_key_id(), "a");
        assert!(!format!("{ok:?}").contains(&b64(1)));
    }

    #[test]
    fn the_dev_key_is_labelled_and_random() {
        let a = Keyring::ephemeral_dev();
        let b = Keyring::ephemeral_dev();
        assert_eq!(a.active_key_id(), DEV_EPHEMERAL_KEY_ID);
        let tenant = Uuid::now_v7();
        let sealed = a.seal(tenant, "llm.api_key", b"v").unwrap();
        assert!(b.open(tenant, "llm.api_key", &sealed).is_err());
    }

    proptest! {
        #[test]
        fn any_value_round_trips_and_any_flip_is_refused(
            value in proptest::collection::vec(any::<u8>(), 0..512),
            name in "[a-z]{1,12}\\.[a-z_]{1,12}",
            flip in any::<prop::sample::Index>(),
        ) {
            let ring = ring(&format!("k1:{}", b64(9)));
            let tenant = Uuid::now_v7();
            let sealed = ring.seal(tenant, &name, &value).unwrap();
            prop_assert_eq!(ring.open(tenant, &name, &sealed).unwrap(), value);
            let mut bad = sealed.clone();
            let i = flip.index(bad.ciphertext.len());
            bad.ciphertext[i] ^= 0x80;
            prop_assert!(ring.open(tenant, &name, &bad).is_err());
        }
    }
}
