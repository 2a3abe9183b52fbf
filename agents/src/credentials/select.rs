//! The pure rule of which credentials a tenant's provider call uses: given the
//! tenant's opened secrets and the deployment's settings, each provider gets the
//! tenant's own credentials, the environment's, or a refusal. No IO.
//!
//! The rule, per provider, all or nothing:
//! - the tenant stored every secret the provider needs → the tenant's;
//! - it stored none of them → the environment's (which may be a dry run);
//! - it stored some but not all (half a Twilio pair) → refused, permanently, naming
//!   the missing secret: never the tenant's SID with the operator's token;
//! - a stored secret this worker cannot open → refused, naming the secret (never its
//!   value), and never a silent fallback to the operator's account.

use std::collections::BTreeMap;

use rex_adapters::Secret;
use rex_adapters::enrichment::{ApolloConfig, HunterConfig};
use rex_adapters::env::Lookup;
use rex_adapters::llm::LlmConfig;
use rex_adapters::sendgrid::SendGridConfig;
use rex_adapters::twilio::TwilioConfig;
use rex_workers::StepError;
use url::Url;

/// The tenant secrets the agents read (a subset of
/// `rex_domain_store::secrets::SECRET_NAMES`).
pub const SENDGRID_API_KEY: &str = "sendgrid.api_key";
pub const TWILIO_ACCOUNT_SID: &str = "twilio.account_sid";
pub const TWILIO_AUTH_TOKEN: &str = "twilio.auth_token";
pub const HUNTER_API_KEY: &str = "enrichment.hunter_api_key";
pub const APOLLO_API_KEY: &str = "enrichment.apollo_api_key";
pub const LLM_API_KEY: &str = "llm.api_key";
pub const LLM_BASE_URL: &str = "llm.base_url";

/// Every secret [`choose`] may read.
pub const AGENT_SECRETS: [&str; 7] = [
    SENDGRID_API_KEY,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    HUNTER_API_KEY,
    APOLLO_API_KEY,
    LLM_API_KEY,
    LLM_BASE_URL,
];

/// A tenant secret as the worker found it.
#[derive(Clone, Debug)]
pub enum Opened {
    Value(Secret),
    /// Stored, but this worker cannot open it. `why` is the keyring's message (key
    /// ids, never key material nor the value).
    Unreadable {
        why: String,
        retryable: bool,
    },
}

/// The tenant's stored secrets by name; a name absent here was not stored.
pub type Stored = BTreeMap<&'static str, Opened>;

/// Where a provider call's credentials come from: the `rex.credentials` span field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Tenant,
    Environment,
    DryRun,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tenant => "tenant",
            Source::Environment => "environment",
            Source::DryRun => "dry_run",
        }
    }
}

/// Why a tenant's provider cannot be used. The message names secrets, never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError {
    pub message: String,
    pub retryable: bool,
}

impl CredentialError {
    fn permanent(message: String) -> Self {
        Self {
            message,
            retryable: false,
        }
    }

    pub fn to_step_error(&self) -> StepError {
        if self.retryable {
            StepError::retryable(self.message.clone())
        } else {
            StepError::permanent(self.message.clone())
        }
    }
}

/// One provider's choice for a tenant.
#[derive(Clone, Debug)]
pub enum Choice<C> {
    /// The tenant's own credentials, in a full config.
    Tenant(C),
    /// The tenant stored none: the environment's client (or dry-run).
    Environment,
    Refused(CredentialError),
}

/// What a tenant's credentials are combined with: the deployment's base URLs, SendGrid
/// sandbox flag, Twilio sender, LLM model. The credential fields are empty
/// placeholders, filled only with a tenant's own values ([`choose`]); the operator's
/// keys are never in here.
#[derive(Clone, Debug)]
pub struct TenantDefaults {
    pub sendgrid: SendGridConfig,
    /// `None` when neither `TWILIO_FROM_NUMBER` nor `TWILIO_MESSAGING_SERVICE_SID` is
    /// set: a tenant's Twilio credentials are then refused (no sender to send from).
    pub twilio: Option<TwilioConfig>,
    pub hunter: HunterConfig,
    pub apollo: ApolloConfig,
    /// Base URL (the environment's, else the OpenAI default) and model.
    pub llm: LlmConfig,
}

impl Default for TenantDefaults {
    /// The providers' public endpoints, no Twilio sender, the default LLM model.
    fn default() -> Self {
        Self::from_lookup(&|_| None).expect("the built-in defaults are valid")
    }
}

const PLACEHOLDER: &str = "unset";

impl TenantDefaults {
    /// The non-credential settings of the variables in `crate::config`'s table, read
    /// through the adapters' own parsers with placeholder credentials (so a bad base
    /// URL is the same error as for the environment's client).
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, rex_adapters::ProviderError> {
        let with = |names: &'static [&'static str]| {
            move |name: &str| {
                if names.contains(&name) {
                    Some(PLACEHOLDER.to_owned())
                } else {
                    lookup(name)
                }
            }
        };
        let blank = |mut s: SendGridConfig| {
            s.api_key = Secret::new("");
            s
        };
        let sendgrid = SendGridConfig::from_lookup(&with(&["SENDGRID_API_KEY"]))?
            .map(blank)
            .expect("a key is set");
        let has_sender = ["TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"]
            .iter()
            .any(|n| lookup(n).is_some_and(|v| !v.trim().is_empty()));
        let twilio = if has_sender {
            TwilioConfig::from_lookup(&with(&["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]))?.map(
                |mut t| {
                    t.account_sid = String::new();
                    t.auth_token = Secret::new("");
                    t
                },
            )
        } else {
            None
        };
        let mut hunter =
            HunterConfig::from_lookup(&with(&["HUNTER_API_KEY"]))?.expect("a key is set");
        hunter.api_key = Secret::new("");
        let mut apollo =
            ApolloConfig::from_lookup(&with(&["APOLLO_API_KEY"]))?.expect("a key is set");
        apollo.api_key = Secret::new("");
        let mut llm = LlmConfig::from_lookup(&with(&["LLM_API_KEY", "OPENAI_API_KEY"]))?
            .expect("a key is set");
        llm.api_key = None;
        Ok(Self {
            sendgrid,
            twilio,
            hunter,
            apollo,
            llm,
        })
    }
}

/// What the tenant's providers use, before any client is built.
#[derive(Clone, Debug)]
pub struct Choices {
    pub sendgrid: Choice<SendGridConfig>,
    pub twilio: Choice<TwilioConfig>,
    pub hunter: Choice<HunterConfig>,
    pub apollo: Choice<ApolloConfig>,
    pub llm: Choice<LlmConfig>,
}

impl Choices {
    /// The environment for every provider (a tenant with no stored secrets).
    pub fn environment() -> Self {
        Self {
            sendgrid: Choice::Environment,
            twilio: Choice::Environment,
            hunter: Choice::Environment,
            apollo: Choice::Environment,
            llm: Choice::Environment,
        }
    }
}

/// `name`'s value: `Ok(None)` when not stored, an error when stored but unreadable.
fn value(stored: &Stored, name: &'static str) -> Result<Option<Secret>, CredentialError> {
    match stored.get(name) {
        None => Ok(None),
        Some(Opened::Value(v)) => Ok(Some(Secret::new(v.expose().trim().to_owned()))),
        Some(Opened::Unreadable { why, retryable }) => Err(CredentialError {
            message: format!(
                "tenant secret {name}: stored, but this worker cannot open it ({why}); \
                 the operator's credentials are not used instead"
            ),
            retryable: *retryable,
        }),
    }
}

/// A provider with one secret.
fn single<C>(stored: &Stored, name: &'static str, fill: impl FnOnce(Secret) -> C) -> Choice<C> {
    match value(stored, name) {
        Ok(Some(v)) => Choice::Tenant(fill(v)),
        Ok(None) => Choice::Environment,
        Err(e) => Choice::Refused(e),
    }
}

fn twilio(stored: &Stored, defaults: &TenantDefaults) -> Choice<TwilioConfig> {
    let (sid, token) = match (
        value(stored, TWILIO_ACCOUNT_SID),
        value(stored, TWILIO_AUTH_TOKEN),
    ) {
        (Err(e), _) | (_, Err(e)) => return Choice::Refused(e),
        (Ok(sid), Ok(token)) => (sid, token),
    };
    let half = |has: &str, missing: &str| {
        Choice::Refused(CredentialError::permanent(format!(
            "twilio: the tenant stored {has} but not {missing}: store both or neither \
             (a tenant's credentials are never mixed with the operator's)"
        )))
    };
    match (sid, token) {
        (None, None) => Choice::Environment,
        (Some(_), None) => half(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN),
        (None, Some(_)) => half(TWILIO_AUTH_TOKEN, TWILIO_ACCOUNT_SID),
        (Some(sid), Some(token)) => match &defaults.twilio {
            None => Choice::Refused(CredentialError::permanent(
                "twilio: the tenant's credentials are stored but no sender is configured: \
                 set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"
                    .into(),
            )),
            Some(template) => {
                let mut c = template.clone();
                c.account_sid = sid.expose().to_owned();
                c.auth_token = token;
                Choice::Tenant(c)
            }
        },
    }
}

fn llm(stored: &Stored, defaults: &TenantDefaults) -> Choice<LlmConfig> {
    let (key, base) = match (value(stored, LLM_API_KEY), value(stored, LLM_BASE_URL)) {
        (Err(e), _) | (_, Err(e)) => return Choice::Refused(e),
        (Ok(key), Ok(base)) => (key, base),
    };
    if key.is_none() && base.is_none() {
        return Choice::Environment;
    }
    let mut c = defaults.llm.clone();
    if let Some(base) = base {
        match Url::parse(base.expose()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => c.base_url = url,
            // the value is not quoted: a URL may carry credentials
            _ => {
                return Choice::Refused(CredentialError::permanent(format!(
                    "tenant secret {LLM_BASE_URL}: not an http(s) URL"
                )));
            }
        }
    }
    // only the tenant's key, or none (a tenant's own keyless server): the
    // operator's key never goes to a tenant's endpoint
    c.api_key = key;
    Choice::Tenant(c)
}

/// The rule of the module docs, for every provider the agents call.
pub fn choose(stored: &Stored, defaults: &TenantDefaults) -> Choices {
    Choices {
        sendgrid: single(stored, SENDGRID_API_KEY, |k| SendGridConfig {
            api_key: k,
            ..defaults.sendgrid.clone()
        }),
        twilio: twilio(stored, defaults),
        hunter: single(stored, HUNTER_API_KEY, |k| HunterConfig {
            api_key: k,
            ..defaults.hunter.clone()
        }),
        apollo: single(stored, APOLLO_API_KEY, |k| ApolloConfig {
            api_key: k,
            ..defaults.apollo.clone()
        }),
        llm: llm(stored, defaults),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(pairs: &[(&'static str, &str)]) -> Stored {
        pairs
            .iter()
            .map(|(k, v)| (*k, Opened::Value(Secret::new(*v))))
            .collect()
    }

    fn defaults_with_sender() -> TenantDefaults {
        TenantDefaults::from_lookup(&|name: &str| {
            (name == "TWILIO_FROM_NUMBER").then(|| "+15550001111".to_owned())
        })
        .unwrap()
    }

    fn refused<C: std::fmt::Debug>(c: &Choice<C>) -> &CredentialError {
        match c {
            Choice::Refused(e) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_tenant_without_secrets_uses_the_environment_everywhere() {
        let c = choose(&Stored::new(), &TenantDefaults::default());
        assert!(matches!(c.sendgrid, Choice::Environment));
        assert!(matches!(c.twilio, Choice::Environment));
        assert!(matches!(c.hunter, Choice::Environment));
        assert!(matches!(c.apollo, Choice::Environment));
        assert!(matches!(c.llm, Choice::Environment));
    }

    #[test]
    fn a_stored_key_becomes_the_tenants_config_on_the_deployments_endpoint() {
        let defaults = TenantDefaults::from_lookup(&|name: &str| {
            (name == "SENDGRID_BASE_URL").then(|| "http://127.0.0.1:9/".to_owned())
        })
        .unwrap();
        let c = choose(&stored(&[(SENDGRID_API_KEY, " SG.tenant \n")]), &defaults);
        let Choice::Tenant(sg) = c.sendgrid else {
            panic!("expected the tenant's config")
        };
        assert_eq!(sg.api_key.expose(), "SG.tenant");
        assert_eq!(sg.base_url.as_str(), "http://127.0.0.1:9/");
        assert!(matches!(c.hunter, Choice::Environment));
    }

    #[test]
    fn the_defaults_never_hold_the_operators_credentials() {
        let defaults = TenantDefaults::from_lookup(&|name: &str| match name {
            "SENDGRID_API_KEY" => Some("SG.operator".into()),
            "TWILIO_ACCOUNT_SID" => Some("ACoperator".into()),
            "TWILIO_AUTH_TOKEN" => Some("operator-token".into()),
            "TWILIO_FROM_NUMBER" => Some("+15550001111".into()),
            "LLM_API_KEY" => Some("sk-operator".into()),
            "HUNTER_API_KEY" => Some("hunter-operator".into()),
            "APOLLO_API_KEY" => Some("apollo-operator".into()),
            _ => None,
        })
        .unwrap();
        assert!(defaults.sendgrid.api_key.is_empty());
        let twilio = defaults.twilio.as_ref().unwrap();
        assert!(twilio.account_sid.is_empty() && twilio.auth_token.is_empty());
        assert!(defaults.hunter.api_key.is_empty() && defaults.apollo.api_key.is_empty());
        assert!(defaults.llm.api_key.is_none());
        // a tenant with only a base URL gets no key at all, not the operator's
        let c = choose(
            &stored(&[(LLM_BASE_URL, "http://tenant-llm:11434")]),
            &defaults,
        );
        let Choice::Tenant(llm) = c.llm else {
            panic!("expected the tenant's config")
        };
        assert!(llm.api_key.is_none());
        assert_eq!(llm.base_url.as_str(), "http://tenant-llm:11434/");
    }

    #[test]
    fn half_a_twilio_pair_is_refused_permanently_naming_the_missing_secret() {
        let defaults = defaults_with_sender();
        let c = choose(&stored(&[(TWILIO_ACCOUNT_SID, "ACtenant")]), &defaults);
        let e = refused(&c.twilio);
        assert!(!e.retryable);
        assert!(e.message.contains("not twilio.auth_token"), "{}", e.message);
        let c = choose(&stored(&[(TWILIO_AUTH_TOKEN, "tok-secret")]), &defaults);
        let e = refused(&c.twilio);
        assert!(
            e.message.contains("not twilio.account_sid"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("tok-secret"));
        // the other providers are not affected
        assert!(matches!(c.sendgrid, Choice::Environment));
    }

    #[test]
    fn a_full_twilio_pair_uses_the_configured_sender() {
        let c = choose(
            &stored(&[(TWILIO_ACCOUNT_SID, "ACtenant"), (TWILIO_AUTH_TOKEN, "tok")]),
            &defaults_with_sender(),
        );
        let Choice::Tenant(t) = c.twilio else {
            panic!("expected the tenant's config")
        };
        assert_eq!(t.account_sid, "ACtenant");
        assert_eq!(t.auth_token.expose(), "tok");
        assert_eq!(
            t.sender,
            rex_adapters::twilio::SenderId::Number("+15550001111".into())
        );
        // without a sender there is nothing to send from
        let c = choose(
            &stored(&[(TWILIO_ACCOUNT_SID, "ACtenant"), (TWILIO_AUTH_TOKEN, "tok")]),
            &TenantDefaults::default(),
        );
        assert!(refused(&c.twilio).message.contains("TWILIO_FROM_NUMBER"));
    }

    #[test]
    fn an_unreadable_secret_is_refused_naming_it_never_replaced_by_the_environment() {
        let mut s = stored(&[(TWILIO_ACCOUNT_SID, "ACtenant")]);
        s.insert(
            SENDGRID_API_KEY,
            Opened::Unreadable {
                why: "no key \"k-old\" in the keyring".into(),
                retryable: true,
            },
        );
        s.insert(
            TWILIO_AUTH_TOKEN,
            Opened::Unreadable {
                why: "tampered".into(),
                retryable: false,
            },
        );
        let c = choose(&s, &defaults_with_sender());
        let e = refused(&c.sendgrid);
        assert!(e.retryable);
        assert!(
            e.message.starts_with("tenant secret sendgrid.api_key: "),
            "{}",
            e.message
        );
        let e = refused(&c.twilio);
        assert!(!e.retryable);
        assert!(e.message.contains("twilio.auth_token"), "{}", e.message);
    }

    #[test]
    fn a_bad_llm_base_url_is_refused_without_quoting_it() {
        let c = choose(
            &stored(&[(LLM_BASE_URL, "ftp://user:pw@host")]),
            &TenantDefaults::default(),
        );
        let e = refused(&c.llm);
        assert!(
            !e.retryable && !e.message.contains("pw@host"),
            "{}",
            e.message
        );
        // a key alone goes to the deployment's endpoint (the OpenAI default here)
        let c = choose(
            &stored(&[(LLM_API_KEY, "sk-t")]),
            &TenantDefaults::default(),
        );
        let Choice::Tenant(llm) = c.llm else {
            panic!("expected the tenant's config")
        };
        assert_eq!(llm.base_url.as_str(), "https://api.openai.com/");
        assert_eq!(llm.api_key.unwrap().expose(), "sk-t");
    }
}
