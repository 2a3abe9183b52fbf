//! Each tenant's provider clients: built from the credentials the tenant stored through
//! `/v1/secrets` (sealed by `rex_domain_store::keyring`), else the environment's
//! ([`AgentsConfig`]), else the dry-run stand-ins. The rule is pure and lives in
//! [`select`]; this module reads and opens the secrets, builds the clients and
//! remembers them per tenant for a short time ([`CREDENTIALS_TTL`]), so a hot path does
//! not read the database and decrypt on every task. After that time the secrets are
//! read again; the clients are rebuilt only when they changed (connection pools and
//! the LLM's response cache survive).
//!
//! Errors (step errors, naming the secret, never its value):
//! - half a provider's credentials stored (one of the Twilio pair): permanent — no
//!   retry will complete the pair;
//! - a secret sealed under a key this worker's keyring lacks, or no keyring at all
//!   (`REX_SECRETS_KEYS` unset on this worker): retryable — a worker deployed
//!   before a new key, or one missing the variable, is fixed by a rollout, and the
//!   retry may land on a worker that has it;
//! - a secret that does not open under its key (tampered, copied from another tenant
//!   or name), malformed, or not UTF-8: permanent — the tenant must store it again;
//! - the database read failing: retryable when the database says so.
//!
//! None of these falls back to the operator's credentials: a tenant that stored a key
//! meant its calls to go on its own account.

pub mod select;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rex_adapters::clock::Clock;
use rex_adapters::email::DryRunEmailSender;
use rex_adapters::enrichment::{
    ApolloClient, DryRunEnrichment, EmailVerifier, EnrichmentProvider, HunterClient,
};
use rex_adapters::llm::LlmClient;
use rex_adapters::sendgrid::SendGridClient;
use rex_adapters::sms::DryRunSmsSender;
use rex_adapters::twilio::TwilioClient;
use rex_adapters::{DryRunLog, EmailSender, Mode, Provider, ProviderError, SmsSender, UsageSink};
use rex_domain_store::entity::tenant_secrets;
use rex_domain_store::keyring::{Keyring, KeyringError, Sealed};
use rex_store::Store;
use rex_workers::StepError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::config::AgentsConfig;
use crate::error::AgentsError;
use select::{AGENT_SECRETS, Choice, Choices, Opened, Stored};
pub use select::{CredentialError, Source, TenantDefaults};

/// How long a tenant's clients (or the absence of its secrets) are remembered. A key
/// changed through `/v1/secrets` is used by every worker within this time.
pub const CREDENTIALS_TTL: Duration = Duration::from_secs(30);

/// One provider's client for a tenant, with where its credentials came from; or why
/// the tenant cannot use this provider.
#[derive(Clone)]
pub struct Pick<T>(Result<(Source, T), CredentialError>);

impl<T: Clone> Pick<T> {
    /// The client and its source, or the step error (module docs).
    pub fn get(&self) -> Result<(Source, T), StepError> {
        self.0.clone().map_err(|e| e.to_step_error())
    }
}

/// Hunter answers both lookups and verification.
pub type HunterPair = (Arc<dyn EnrichmentProvider>, Option<Arc<dyn EmailVerifier>>);

/// A tenant's clients, one per provider the agents call.
#[derive(Clone)]
pub struct ProviderSet {
    pub email: Pick<Arc<dyn EmailSender>>,
    pub sms: Pick<Arc<dyn SmsSender>>,
    /// `None`: no LLM configured anywhere (the personalizer writes templates).
    pub llm: Pick<Option<Arc<LlmClient>>>,
    pub hunter: Pick<HunterPair>,
    pub apollo: Pick<Arc<dyn EnrichmentProvider>>,
}

fn source_of(mode: Mode) -> Source {
    match mode {
        Mode::Live => Source::Environment,
        Mode::DryRun => Source::DryRun,
    }
}

/// What building clients needs besides their configs.
#[derive(Clone)]
struct Builder {
    usage: Arc<dyn UsageSink>,
    dry_run: DryRunLog,
    clock: Arc<dyn Clock>,
}

impl Builder {
    fn environment(&self, config: &AgentsConfig) -> Result<ProviderSet, ProviderError> {
        let email: Arc<dyn EmailSender> = match config.sendgrid.clone() {
            Some(c) => {
                Arc::new(SendGridClient::new(c, self.usage.clone())?.with_clock(self.clock.clone()))
            }
            None => Arc::new(DryRunEmailSender::new(
                Provider::SendGrid,
                self.dry_run.clone(),
                self.usage.clone(),
            )),
        };
        let sms: Arc<dyn SmsSender> = match config.twilio.clone() {
            Some(c) => Arc::new(TwilioClient::new(c, self.usage.clone())?),
            None => Arc::new(DryRunSmsSender::new(
                Provider::Twilio,
                self.dry_run.clone(),
                self.usage.clone(),
            )),
        };
        let hunter: HunterPair = match config.hunter.clone() {
            Some(c) => {
                let client = Arc::new(
                    HunterClient::new(c, self.usage.clone())?.with_clock(self.clock.clone()),
                );
                (client.clone(), Some(client))
            }
            None => (
                Arc::new(DryRunEnrichment::new(
                    Provider::Hunter,
                    self.dry_run.clone(),
                    self.usage.clone(),
                )),
                None,
            ),
        };
        let apollo: Arc<dyn EnrichmentProvider> = match config.apollo.clone() {
            Some(c) => {
                Arc::new(ApolloClient::new(c, self.usage.clone())?.with_clock(self.clock.clone()))
            }
            None => Arc::new(DryRunEnrichment::new(
                Provider::Apollo,
                self.dry_run.clone(),
                self.usage.clone(),
            )),
        };
        let llm = config
            .llm
            .clone()
            .map(|c| {
                LlmClient::from_config(Some(c), self.dry_run.clone(), self.usage.clone())
                    .map(Arc::new)
            })
            .transpose()?;
        Ok(ProviderSet {
            email: Pick(Ok((source_of(email.mode()), email))),
            sms: Pick(Ok((source_of(sms.mode()), sms))),
            llm: Pick(Ok((
                if llm.is_some() {
                    Source::Environment
                } else {
                    Source::DryRun
                },
                llm,
            ))),
            hunter: Pick(Ok((source_of(hunter.0.mode()), hunter))),
            apollo: Pick(Ok((source_of(apollo.mode()), apollo))),
        })
    }

    /// The tenant's set: its own clients where [`select::choose`] says so, the
    /// environment's elsewhere.
    fn tenant(&self, choices: Choices, env: &ProviderSet) -> ProviderSet {
        fn pick<C, T: Clone>(
            choice: Choice<C>,
            env: &Pick<T>,
            build: impl FnOnce(C) -> Result<T, ProviderError>,
        ) -> Pick<T> {
            match choice {
                Choice::Environment => env.clone(),
                Choice::Refused(e) => Pick(Err(e)),
                Choice::Tenant(c) => Pick(match build(c) {
                    Ok(client) => Ok((Source::Tenant, client)),
                    // e.g. a key a header cannot carry: the tenant's to fix
                    Err(e) => Err(CredentialError {
                        message: format!("tenant credentials: {e}"),
                        retryable: false,
                    }),
                }),
            }
        }
        let b = self;
        ProviderSet {
            email: pick(choices.sendgrid, &env.email, |c| {
                let client = SendGridClient::new(c, b.usage.clone())?.with_clock(b.clock.clone());
                Ok(Arc::new(client) as Arc<dyn EmailSender>)
            }),
            sms: pick(choices.twilio, &env.sms, |c| {
                Ok(Arc::new(TwilioClient::new(c, b.usage.clone())?) as Arc<dyn SmsSender>)
            }),
            llm: pick(choices.llm, &env.llm, |c| {
                LlmClient::from_config(Some(c), b.dry_run.clone(), b.usage.clone())
                    .map(|l| Some(Arc::new(l)))
            }),
            hunter: pick(choices.hunter, &env.hunter, |c| {
                let client =
                    Arc::new(HunterClient::new(c, b.usage.clone())?.with_clock(b.clock.clone()));
                Ok((
                    client.clone() as Arc<dyn EnrichmentProvider>,
                    Some(client as Arc<dyn EmailVerifier>),
                ))
            }),
            apollo: pick(choices.apollo, &env.apollo, |c| {
                let client = ApolloClient::new(c, b.usage.clone())?.with_clock(b.clock.clone());
                Ok(Arc::new(client) as Arc<dyn EnrichmentProvider>)
            }),
        }
    }
}

/// Each tenant's [`ProviderSet`]. Cheap to clone: clones share what they remember.
/// Without a store (the agents that run without the domain database) every tenant
/// gets the environment's set.
#[derive(Clone)]
pub struct TenantProviders {
    store: Option<Store>,
    keyring: Option<Arc<Keyring>>,
    defaults: Arc<TenantDefaults>,
    env: Arc<ProviderSet>,
    builder: Builder,
    ttl: Duration,
    remembered: Arc<Mutex<HashMap<Uuid, Remembered>>>,
}

impl std::fmt::Debug for TenantProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantProviders")
            .field("store", &self.store.is_some())
            .field("keyring", &self.keyring)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TenantProviders {
    /// The environment's clients from `config`, built once; tenants' own once a store
    /// is given ([`TenantProviders::with_store`]).
    pub fn from_config(config: &AgentsConfig) -> Result<Self, AgentsError> {
        let builder = Builder {
            usage: config.usage.clone(),
            dry_run: config.dry_run.clone(),
            clock: config.clock.clone(),
        };
        Ok(Self {
            store: None,
            keyring: config.keyring.clone(),
            defaults: Arc::new(config.tenant_defaults.clone()),
            env: Arc::new(builder.environment(config)?),
            builder,
            ttl: config.credentials_ttl,
            remembered: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Reads tenants' secrets from `store` (the domain tables).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// The environment's set, whatever the tenant.
    pub fn environment(&self) -> Arc<ProviderSet> {
        self.env.clone()
    }

    /// The set for the tenant with id `tenant` (module docs).
    pub async fn for_tenant(&self, tenant: Uuid) -> Result<Arc<ProviderSet>, StepError> {
        let Some(store) = &self.store else {
            return Ok(self.env.clone());
        };
        let previous = match self.recall(tenant) {
            Recalled::Fresh(set) => return Ok(set),
            Recalled::Expired(fingerprint, set) => Some((fingerprint, set)),
            Recalled::None => None,
        };
        let stored = self.read(store, tenant).await?;
        let print = fingerprint(&stored);
        // unchanged secrets keep their clients (connection pools, the LLM's cache)
        let set = match previous {
            Some((before, set)) if before == print => set,
            _ if stored.is_empty() => self.env.clone(),
            _ => Arc::new(
                self.builder
                    .tenant(select::choose(&stored, &self.defaults), &self.env),
            ),
        };
        self.remember(tenant, print, set.clone());
        Ok(set)
    }

    /// As [`TenantProviders::for_tenant`], by slug: a slug with no tenant row has no
    /// secrets (the environment's set; nothing is created).
    pub async fn for_slug(&self, slug: &str) -> Result<Arc<ProviderSet>, StepError> {
        let Some(store) = &self.store else {
            return Ok(self.env.clone());
        };
        match rex_domain_store::tenant_by_slug(store.conn(), slug).await {
            Ok(Some(t)) => self.for_tenant(t.id).await,
            Ok(None) => Ok(self.env.clone()),
            Err(e) => Err(crate::store_error("tenant credentials", &e)),
        }
    }

    /// The tenant's stored agent secrets, opened (one query).
    async fn read(&self, store: &Store, tenant: Uuid) -> Result<Stored, StepError> {
        let rows = tenant_secrets::Entity::find()
            .filter(tenant_secrets::Column::TenantId.eq(tenant))
            .filter(tenant_secrets::Column::Name.is_in(AGENT_SECRETS))
            .all(store.conn())
            .await
            .map_err(|e| {
                crate::store_error(
                    "tenant credentials",
                    &rex_domain_store::DomainStoreError::from(e),
                )
            })?;
        let mut stored = Stored::new();
        for row in rows {
            let Some(name) = AGENT_SECRETS.iter().find(|n| **n == row.name) else {
                continue;
            };
            stored.insert(*name, self.open(tenant, &row));
        }
        Ok(stored)
    }

    fn open(&self, tenant: Uuid, row: &tenant_secrets::Model) -> Opened {
        let Some(keyring) = &self.keyring else {
            return Opened::Unreadable {
                why: KeyringError::Disabled.to_string(),
                retryable: true,
            };
        };
        let sealed = Sealed {
            key_id: row.key_id.clone(),
            nonce: row.nonce.clone(),
            ciphertext: row.ciphertext.clone(),
        };
        match keyring.open(tenant, &row.name, &sealed) {
            Ok(clear) => match String::from_utf8(clear) {
                Ok(text) => Opened::Value(rex_adapters::Secret::new(text)),
                Err(_) => Opened::Unreadable {
                    why: "not UTF-8 once opened".into(),
                    retryable: false,
                },
            },
            Err(e) => Opened::Unreadable {
                retryable: matches!(e, KeyringError::UnknownKey { .. } | KeyringError::Disabled),
                why: e.to_string(),
            },
        }
    }

    fn recall(&self, tenant: Uuid) -> Recalled {
        let remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        match remembered.get(&tenant) {
            Some(r) if r.at.elapsed() < self.ttl => Recalled::Fresh(r.set.clone()),
            Some(r) => Recalled::Expired(r.fingerprint, r.set.clone()),
            None => Recalled::None,
        }
    }

    fn remember(&self, tenant: Uuid, fingerprint: [u8; 32], set: Arc<ProviderSet>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        // bounded by the tenants a worker serves; drop long-stale entries when it grows
        if remembered.len() >= 10_000 {
            let ttl = self.ttl;
            remembered.retain(|_, r| r.at.elapsed() < ttl * 10);
        }
        remembered.insert(
            tenant,
            Remembered {
                at: Instant::now(),
                fingerprint,
                set,
            },
        );
    }
}

/// A tenant's set as remembered: expired entries are kept so that unchanged secrets
/// reuse their clients.
struct Remembered {
    at: Instant,
    /// [`fingerprint`] of the secrets the set was built from.
    fingerprint: [u8; 32],
    set: Arc<ProviderSet>,
}

enum Recalled {
    Fresh(Arc<ProviderSet>),
    Expired([u8; 32], Arc<ProviderSet>),
    None,
}

/// A digest of the opened secrets (kept in memory only, to tell a change), never
/// logged.
fn fingerprint(stored: &Stored) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, opened) in stored {
        h.update(name.as_bytes());
        h.update([0]);
        match opened {
            Opened::Value(v) => {
                h.update([1]);
                h.update(v.expose().as_bytes());
            }
            Opened::Unreadable { why, retryable } => {
                h.update([2, u8::from(*retryable)]);
                h.update(why.as_bytes());
            }
        }
        h.update([0]);
    }
    h.finalize().into()
}

/// Records where a provider call's credentials came from on the current span (the
/// action span's `rex.credentials`).
pub(crate) fn record_source(source: Source) {
    tracing::Span::current().record("rex.credentials", source.as_str());
}
