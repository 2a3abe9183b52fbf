//! Where the agents' providers and clock come from.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `REX_LLM_BASE_URL` (else `LLM_BASE_URL`, `OPENAI_BASE_URL`) | OpenAI-compatible endpoint, e.g. `http://localhost:11434` | none: personalizer writes templates |
//! | `REX_LLM_API_KEY` (else `LLM_API_KEY`, `OPENAI_API_KEY`) | bearer key; optional for local servers | none |
//! | `REX_LLM_MODEL` (else `LLM_MODEL`) | model name | `gpt-4o-mini` |
//! | `HUNTER_API_KEY`, `HUNTER_BASE_URL` | Hunter email finder + verifier | none: dry-run stand-in |
//! | `APOLLO_API_KEY`, `APOLLO_BASE_URL`, `APOLLO_REVEAL_PHONE` | Apollo people match | none: dry-run stand-in |
//! | `SENDGRID_API_KEY`, `SENDGRID_BASE_URL`, `SENDGRID_SANDBOX` | outreach email | none: dry-run stand-in |
//! | `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM_NUMBER` / `TWILIO_MESSAGING_SERVICE_SID` | outreach SMS | none: dry-run stand-in |
//! | `REX_SECRETS_KEYS` | the keyring that opens tenants' stored provider credentials (`rex_domain_store::keyring`; the API's value) | none: tenants' stored credentials cannot be opened (their calls fail, never use the above) |
//! | `REX_TENANT` | tenant slug of tasks that name none (created on first use) | `default` |
//! | `REX_SENDER_COMPANY` | company named in the email footer and the Art. 14 notice | `Rex` |
//! | `REX_POSTAL_ADDRESS` | postal address of the footer (CAN-SPAM) | none: live email refused, dry-run uses a placeholder |
//! | `REX_UNSUBSCRIBE_URL` | https base of the one-click unsubscribe (the API's `/u`); `/<signed token>` is appended | `https://unsubscribe.rex.invalid/u` |
//! | `REX_UNSUBSCRIBE_SECRET` | HMAC key of the unsubscribe tokens, at least 32 bytes, the same for the API | a development default: live email refused |
//! | `REX_EMAIL_HOURLY_CAP`, `REX_SMS_HOURLY_CAP` | sends per tenant, channel and clock hour | 500, 200 |
//!
//! The LLM is configured when a base URL or a key is set; Hunter and Apollo when their
//! key is set; SendGrid and Twilio when their credentials are set. Anything unset runs
//! in dry-run.
//!
//! A tenant that stored its own credentials (`/v1/secrets`) has its calls made with
//! them instead ([`crate::credentials`]): on the endpoints, sender and model above, never
//! mixed with the credentials above.

use std::sync::Arc;
use std::time::Duration;

use rex_adapters::clock::{Clock, SystemClock};
use rex_adapters::enrichment::{ApolloConfig, HunterConfig};
use rex_adapters::env::{Lookup, process_env};
use rex_adapters::llm::LlmConfig;
use rex_adapters::sendgrid::SendGridConfig;
use rex_adapters::twilio::TwilioConfig;
use rex_adapters::{DryRunLog, UsageSink};

use rex_domain::unsubscribe::SigningKey;
use rex_domain_store::keyring::{KEYS_ENV, Keyring, KeyringError};

use crate::credentials::{CREDENTIALS_TTL, TenantDefaults};

use crate::error::AgentsError;

mod usage;
pub use usage::MetricsUsage;

/// Everything the agents need from outside. `Default` is a full dry-run on the system
/// clock.
#[derive(Clone)]
pub struct AgentsConfig {
    pub hunter: Option<HunterConfig>,
    pub apollo: Option<ApolloConfig>,
    pub llm: Option<LlmConfig>,
    /// The worker's clock: `now` for scoring, freshness and provenance.
    pub clock: Arc<dyn Clock>,
    /// Where provider calls are accounted (credits, tokens). Default: the
    /// `rex_provider_*` metrics ([`MetricsUsage`]).
    pub usage: Arc<dyn UsageSink>,
    /// Where the dry-run stand-ins record what they would have asked.
    pub dry_run: DryRunLog,
    pub sendgrid: Option<SendGridConfig>,
    pub twilio: Option<TwilioConfig>,
    pub outreach: OutreachSettings,
    /// Opens tenants' stored credentials. `None` (`REX_SECRETS_KEYS` unset): a tenant
    /// that stored credentials gets a step error, never the environment's.
    pub keyring: Option<Arc<Keyring>>,
    /// Endpoints, sender and model a tenant's own credentials are used with (the
    /// variables above, without their credentials).
    pub tenant_defaults: TenantDefaults,
    /// How long a tenant's clients are remembered. Default [`CREDENTIALS_TTL`] (30 s).
    pub credentials_ttl: Duration,
}

/// What the store-backed agents (`deliverability`, `outreach`) need besides providers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutreachSettings {
    /// Tenant slug of a task whose input names none. Default `default`.
    pub tenant: String,
    /// Default `Rex`.
    pub sender_company: String,
    /// The footer's postal address; `None` refuses live email (CAN-SPAM).
    pub postal_address: Option<String>,
    /// https base of the one-click unsubscribe endpoint.
    pub unsubscribe_url: String,
    /// Signs the unsubscribe tokens (`rex_domain::unsubscribe`). Default: the
    /// development key, which live email refuses.
    pub unsubscribe_secret: SigningKey,
    /// Email sends per tenant and clock hour. Default 500.
    pub email_hourly_cap: u32,
    /// SMS sends per tenant and clock hour. Default 200.
    pub sms_hourly_cap: u32,
}

impl Default for OutreachSettings {
    fn default() -> Self {
        Self {
            tenant: "default".into(),
            sender_company: "Rex".into(),
            postal_address: None,
            unsubscribe_url: "https://unsubscribe.rex.invalid/u".into(),
            unsubscribe_secret: SigningKey::development(),
            email_hourly_cap: 500,
            sms_hourly_cap: 200,
        }
    }
}

impl OutreachSettings {
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, AgentsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let cap = |name: &'static str, default: u32| -> Result<u32, AgentsError> {
            get(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| AgentsError::Setting {
                    name,
                    why: format!("expected a whole number, got {v:?}"),
                })
            })
        };
        let defaults = Self::default();
        let unsubscribe_url = get("REX_UNSUBSCRIBE_URL").unwrap_or(defaults.unsubscribe_url);
        if !unsubscribe_url.starts_with("https://") {
            return Err(AgentsError::Setting {
                name: "REX_UNSUBSCRIBE_URL",
                why: "must be an https URL (RFC 8058)".into(),
            });
        }
        let unsubscribe_secret = match get("REX_UNSUBSCRIBE_SECRET") {
            None => defaults.unsubscribe_secret,
            Some(secret) => {
                rex_domain::unsubscribe::check_secret(&secret).map_err(|why| {
                    AgentsError::Setting {
                        name: "REX_UNSUBSCRIBE_SECRET",
                        why,
                    }
                })?;
                SigningKey::new(secret)
            }
        };
        Ok(Self {
            unsubscribe_secret,
            tenant: get("REX_TENANT").unwrap_or(defaults.tenant),
            sender_company: get("REX_SENDER_COMPANY").unwrap_or(defaults.sender_company),
            postal_address: get("REX_POSTAL_ADDRESS"),
            unsubscribe_url: unsubscribe_url.trim_end_matches('/').to_owned(),
            email_hourly_cap: cap("REX_EMAIL_HOURLY_CAP", defaults.email_hourly_cap)?,
            sms_hourly_cap: cap("REX_SMS_HOURLY_CAP", defaults.sms_hourly_cap)?,
        })
    }
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            hunter: None,
            apollo: None,
            llm: None,
            clock: Arc::new(SystemClock),
            usage: Arc::new(MetricsUsage::new()),
            dry_run: DryRunLog::new(),
            sendgrid: None,
            twilio: None,
            outreach: OutreachSettings::default(),
            keyring: None,
            tenant_defaults: TenantDefaults::default(),
            credentials_ttl: CREDENTIALS_TTL,
        }
    }
}

impl std::fmt::Debug for AgentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentsConfig")
            .field("hunter", &self.hunter.is_some())
            .field("apollo", &self.apollo.is_some())
            .field("llm", &self.llm.as_ref().map(|l| l.model.as_str()))
            .field("sendgrid", &self.sendgrid.is_some())
            .field("twilio", &self.twilio.is_some())
            .field("outreach", &self.outreach)
            .field("keyring", &self.keyring)
            .field("credentials_ttl", &self.credentials_ttl)
            .finish_non_exhaustive()
    }
}

/// `REX_`-prefixed names win over the adapters' own names.
fn rex_first<'a>(lookup: Lookup<'a>) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        let preferred = match name {
            "LLM_BASE_URL" | "LLM_API_KEY" | "LLM_MODEL" => lookup(&format!("REX_{name}")),
            _ => None,
        };
        preferred
            .filter(|v| !v.trim().is_empty())
            .or_else(|| lookup(name))
    }
}

/// The keyring of `REX_SECRETS_KEYS` (as `Keyring::from_env` reads it): `None` when
/// unset, an error when malformed (never quoting a key).
fn keyring(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Arc<Keyring>>, AgentsError> {
    match Keyring::from_var(lookup(KEYS_ENV).as_deref()) {
        Ok(k) => Ok(Some(Arc::new(k))),
        Err(KeyringError::Disabled) => Ok(None),
        Err(e) => Err(AgentsError::Setting {
            name: KEYS_ENV,
            why: e.to_string(),
        }),
    }
}

impl AgentsConfig {
    /// Reads the variables in the module docs from `lookup`.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, AgentsError> {
        let lookup = rex_first(lookup);
        Ok(Self {
            hunter: HunterConfig::from_lookup(&lookup)?,
            apollo: ApolloConfig::from_lookup(&lookup)?,
            llm: LlmConfig::from_lookup(&lookup)?,
            sendgrid: SendGridConfig::from_lookup(&lookup)?,
            twilio: TwilioConfig::from_lookup(&lookup)?,
            outreach: OutreachSettings::from_lookup(&lookup)?,
            keyring: keyring(&lookup)?,
            tenant_defaults: TenantDefaults::from_lookup(&lookup)?,
            ..Self::default()
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, AgentsError> {
        Self::from_lookup(&process_env)
    }

    /// Accounts provider calls in `next` too, after the metrics (the CLI's cost
    /// summary keeps a `UsageLog`).
    pub fn with_usage(mut self, next: Arc<dyn UsageSink>) -> Self {
        self.usage = Arc::new(MetricsUsage::new().then(next));
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Opens tenants' stored credentials with `keyring`.
    pub fn with_keyring(mut self, keyring: Arc<Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Remembers a tenant's clients for `ttl` (`ZERO`: read the secrets every task).
    pub fn with_credentials_ttl(mut self, ttl: Duration) -> Self {
        self.credentials_ttl = ttl;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn nothing_set_means_dry_run_everywhere() {
        let config = AgentsConfig::from_lookup(&lookup(&[])).unwrap();
        assert!(config.hunter.is_none() && config.apollo.is_none() && config.llm.is_none());
        assert!(config.sendgrid.is_none() && config.twilio.is_none());
        assert_eq!(config.outreach, OutreachSettings::default());
    }

    #[test]
    fn outreach_settings_come_from_rex_variables() {
        let config = AgentsConfig::from_lookup(&lookup(&[
            ("REX_TENANT", "acme"),
            ("REX_POSTAL_ADDRESS", "1 Main St"),
            ("REX_SMS_HOURLY_CAP", "7"),
        ]))
        .unwrap();
        assert_eq!(config.outreach.tenant, "acme");
        assert_eq!(config.outreach.postal_address.as_deref(), Some("1 Main St"));
        assert_eq!(config.outreach.sms_hourly_cap, 7);
        let err =
            AgentsConfig::from_lookup(&lookup(&[("REX_EMAIL_HOURLY_CAP", "lots")])).unwrap_err();
        assert!(err.to_string().contains("REX_EMAIL_HOURLY_CAP"), "{err}");
    }

    #[test]
    fn the_unsubscribe_secret_is_checked_and_never_shown() {
        let config = AgentsConfig::from_lookup(&lookup(&[(
            "REX_UNSUBSCRIBE_SECRET",
            "a-real-secret-of-at-least-32-bytes!",
        )]))
        .unwrap();
        assert!(!config.outreach.unsubscribe_secret.is_development());
        assert!(!format!("{config:?}").contains("a-real-secret"));
        let err =
            AgentsConfig::from_lookup(&lookup(&[("REX_UNSUBSCRIBE_SECRET", "short")])).unwrap_err();
        assert!(err.to_string().contains("REX_UNSUBSCRIBE_SECRET"), "{err}");
    }

    #[test]
    fn rex_prefixed_llm_variables_win_over_the_generic_ones() {
        let config = AgentsConfig::from_lookup(&lookup(&[
            ("REX_LLM_BASE_URL", "http://localhost:11434"),
            ("LLM_BASE_URL", "http://elsewhere:1"),
            ("REX_LLM_MODEL", "llama3.1:8b"),
            ("HUNTER_API_KEY", "h"),
        ]))
        .unwrap();
        let llm = config.llm.unwrap();
        assert_eq!(llm.base_url.as_str(), "http://localhost:11434/");
        assert_eq!(llm.model, "llama3.1:8b");
        assert!(config.hunter.is_some());
        assert!(config.apollo.is_none());
    }

    #[test]
    fn the_keyring_is_optional_but_a_malformed_one_is_an_error_naming_no_key() {
        let config = AgentsConfig::from_lookup(&lookup(&[])).unwrap();
        assert!(config.keyring.is_none());
        let key = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let config = AgentsConfig::from_lookup(&lookup(&[("REX_SECRETS_KEYS", key)])).unwrap();
        assert_eq!(config.keyring.as_ref().unwrap().key_ids(), ["k1"]);
        assert!(!format!("{config:?}").contains("AAAA"));
        let err =
            AgentsConfig::from_lookup(&lookup(&[("REX_SECRETS_KEYS", "k1:c2hvcnQ=")])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("REX_SECRETS_KEYS") && !text.contains("c2hvcnQ"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_llm_url_is_an_error_not_a_dry_run() {
        let err =
            AgentsConfig::from_lookup(&lookup(&[("REX_LLM_BASE_URL", "ftp://x")])).unwrap_err();
        assert!(err.to_string().contains("LLM_BASE_URL"), "{err}");
    }
}
