//! Building every adapter from configuration: the live client when a
//! provider's credentials are set, its dry-run stand-in when they are not.

use crate::calendly::{CalendlyClient, CalendlyConfig};
use crate::dry_run::{DryRunLog, Mode};
use crate::email::{DryRunEmailSender, EmailSender};
use crate::enrichment::{
    ApolloClient, ApolloConfig, DryRunEnrichment, EnrichmentCache, EnrichmentProvider,
    HunterClient, HunterConfig, MemoryCache, Waterfall,
};
use crate::env::{self, Lookup};
use crate::error::ProviderError;
use crate::llm::{LlmClient, LlmConfig, ResponseCache};
use crate::provider::Provider;
use crate::scheduling::{DryRunScheduler, Scheduler};
use crate::sendgrid::{SendGridClient, SendGridConfig};
use crate::sms::{DryRunSmsSender, SmsSender};
use crate::twilio::{TwilioClient, TwilioConfig};
use crate::usage::SharedUsageSink;
use std::sync::Arc;

/// Each provider's settings; `None` means dry-run.
#[derive(Clone, Debug, Default)]
pub struct AdaptersConfig {
    pub sendgrid: Option<SendGridConfig>,
    pub twilio: Option<TwilioConfig>,
    pub calendly: Option<CalendlyConfig>,
    pub hunter: Option<HunterConfig>,
    pub apollo: Option<ApolloConfig>,
    pub llm: Option<LlmConfig>,
}

impl AdaptersConfig {
    /// Reads every provider's variables. A provider whose credentials are set
    /// but whose other settings are wrong is an error, never a silent dry-run.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, ProviderError> {
        Ok(Self {
            sendgrid: SendGridConfig::from_lookup(lookup)?,
            twilio: TwilioConfig::from_lookup(lookup)?,
            calendly: CalendlyConfig::from_lookup(lookup)?,
            hunter: HunterConfig::from_lookup(lookup)?,
            apollo: ApolloConfig::from_lookup(lookup)?,
            llm: LlmConfig::from_lookup(lookup)?,
        })
    }

    pub fn from_env() -> Result<Self, ProviderError> {
        Self::from_lookup(&env::process_env)
    }
}

/// Every adapter, ready to use.
pub struct Adapters {
    pub email: Arc<dyn EmailSender>,
    pub sms: Arc<dyn SmsSender>,
    pub scheduler: Arc<dyn Scheduler>,
    pub enrichment: Waterfall,
    pub llm: LlmClient,
    /// Where the dry-run stand-ins record what they would have sent.
    pub dry_run: DryRunLog,
    modes: Vec<(Provider, Mode)>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters")
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

fn mode_of<T>(config: &Option<T>) -> Mode {
    if config.is_some() {
        Mode::Live
    } else {
        Mode::DryRun
    }
}

impl Adapters {
    pub fn build(
        config: AdaptersConfig,
        dry_run: DryRunLog,
        usage: SharedUsageSink,
    ) -> Result<Self, ProviderError> {
        let modes = vec![
            (Provider::SendGrid, mode_of(&config.sendgrid)),
            (Provider::Twilio, mode_of(&config.twilio)),
            (Provider::Calendly, mode_of(&config.calendly)),
            (Provider::Hunter, mode_of(&config.hunter)),
            (Provider::Apollo, mode_of(&config.apollo)),
            (Provider::Llm, mode_of(&config.llm)),
        ];
        let email: Arc<dyn EmailSender> = match config.sendgrid {
            Some(c) => Arc::new(SendGridClient::new(c, usage.clone())?),
            None => Arc::new(DryRunEmailSender::new(
                Provider::SendGrid,
                dry_run.clone(),
                usage.clone(),
            )),
        };
        let sms: Arc<dyn SmsSender> = match config.twilio {
            Some(c) => Arc::new(TwilioClient::new(c, usage.clone())?),
            None => Arc::new(DryRunSmsSender::new(
                Provider::Twilio,
                dry_run.clone(),
                usage.clone(),
            )),
        };
        let scheduler: Arc<dyn Scheduler> = match config.calendly {
            Some(c) => Arc::new(CalendlyClient::new(c, usage.clone())?),
            None => Arc::new(DryRunScheduler::new(
                Provider::Calendly,
                dry_run.clone(),
                usage.clone(),
            )),
        };
        let mut verifier = None;
        let hunter: Arc<dyn EnrichmentProvider> = match config.hunter {
            Some(c) => {
                let client = Arc::new(HunterClient::new(c, usage.clone())?);
                verifier = Some(client.clone());
                client
            }
            None => Arc::new(DryRunEnrichment::new(
                Provider::Hunter,
                dry_run.clone(),
                usage.clone(),
            )),
        };
        let apollo: Arc<dyn EnrichmentProvider> = match config.apollo {
            Some(c) => Arc::new(ApolloClient::new(c, usage.clone())?),
            None => Arc::new(DryRunEnrichment::new(
                Provider::Apollo,
                dry_run.clone(),
                usage.clone(),
            )),
        };
        let mut enrichment = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter, apollo]);
        if let Some(verifier) = verifier {
            enrichment = enrichment.with_verifier(verifier);
        }
        let llm = LlmClient::from_config(config.llm, dry_run.clone(), usage)?;
        for (provider, mode) in &modes {
            if *mode == Mode::DryRun {
                tracing::warn!(%provider, "no credentials: running in dry-run, nothing will be sent");
            }
        }
        Ok(Self {
            email,
            sms,
            scheduler,
            enrichment,
            llm,
            dry_run,
            modes,
        })
    }

    /// Reads the environment and builds.
    pub fn from_env(dry_run: DryRunLog, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        Self::build(AdaptersConfig::from_env()?, dry_run, usage)
    }

    /// Keeps enrichment results in `cache` (e.g. the database) instead of memory.
    pub fn with_enrichment_cache(mut self, cache: Arc<dyn EnrichmentCache>) -> Self {
        self.enrichment = self.enrichment.with_cache(cache);
        self
    }

    pub fn with_llm_cache(mut self, cache: Arc<dyn ResponseCache>) -> Self {
        self.llm = self.llm.with_cache(cache);
        self
    }

    /// Which providers are live and which are in dry-run.
    pub fn modes(&self) -> &[(Provider, Mode)] {
        &self.modes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::NoUsage;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_credentials_means_every_provider_in_dry_run() {
        let config = AdaptersConfig::from_lookup(&lookup(&[])).unwrap();
        let adapters = Adapters::build(config, DryRunLog::new(), Arc::new(NoUsage)).unwrap();
        assert!(adapters.modes().iter().all(|(_, m)| *m == Mode::DryRun));
        assert_eq!(adapters.email.mode(), Mode::DryRun);
        assert_eq!(adapters.sms.mode(), Mode::DryRun);
        assert_eq!(adapters.scheduler.mode(), Mode::DryRun);
        assert_eq!(adapters.llm.mode(), Mode::DryRun);
    }

    #[test]
    fn credentials_make_providers_live() {
        let vars = lookup(&[
            ("SENDGRID_API_KEY", "SG.x"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_FROM_NUMBER", "+14155550100"),
            ("CALENDLY_TOKEN", "cal"),
            (
                "CALENDLY_EVENT_TYPE",
                "https://api.calendly.com/event_types/ET1",
            ),
            ("HUNTER_API_KEY", "h"),
            ("APOLLO_API_KEY", "a"),
            ("LLM_BASE_URL", "http://localhost:11434"),
        ]);
        let config = AdaptersConfig::from_lookup(&vars).unwrap();
        assert!(config.llm.as_ref().unwrap().api_key.is_none());
        let adapters = Adapters::build(config, DryRunLog::new(), Arc::new(NoUsage)).unwrap();
        assert!(adapters.modes().iter().all(|(_, m)| *m == Mode::Live));
        assert_eq!(adapters.email.mode(), Mode::Live);
    }

    #[test]
    fn half_configured_providers_are_errors_not_dry_runs() {
        let err = AdaptersConfig::from_lookup(&lookup(&[
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000001"),
            ("TWILIO_AUTH_TOKEN", "tok"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("TWILIO_MESSAGING_SERVICE_SID"),
            "{err}"
        );
        let err = AdaptersConfig::from_lookup(&lookup(&[("CALENDLY_TOKEN", "cal")])).unwrap_err();
        assert!(err.to_string().contains("CALENDLY_EVENT_TYPE"));
        let err = AdaptersConfig::from_lookup(&lookup(&[
            ("SENDGRID_API_KEY", "SG.x"),
            ("SENDGRID_BASE_URL", "ftp://nope"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SENDGRID_BASE_URL"));
    }

    #[test]
    fn the_built_in_default_urls_parse() {
        for url in [
            crate::sendgrid::DEFAULT_BASE_URL,
            crate::twilio::DEFAULT_BASE_URL,
            crate::calendly::DEFAULT_BASE_URL,
            crate::llm::DEFAULT_BASE_URL,
            "https://api.hunter.io",
            "https://api.apollo.io",
        ] {
            let _ = env::default_url(url);
        }
    }

    #[test]
    fn config_debug_output_never_shows_credentials() {
        let config = AdaptersConfig::from_lookup(&lookup(&[
            ("SENDGRID_API_KEY", "SG.super-secret-1"),
            ("HUNTER_API_KEY", "hunter-secret-2"),
            ("LLM_API_KEY", "sk-secret-3"),
        ]))
        .unwrap();
        let shown = format!("{config:?}");
        for secret in ["super-secret-1", "hunter-secret-2", "sk-secret-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let adapters = Adapters::build(config, DryRunLog::new(), Arc::new(NoUsage)).unwrap();
        assert!(!format!("{adapters:?} {:?}", adapters.llm).contains("secret"));
    }
}
