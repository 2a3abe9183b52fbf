//! Contact enrichment: Hunter (email finder and verifier) and Apollo
//! (people match) behind one [`EnrichmentProvider`] trait, and a
//! [`Waterfall`] that tries a cache, then each provider in turn, within a
//! per-mission credit [`Budget`]. Every field carries its provenance
//! ([`Sourced`]: source and time), which GDPR Art. 14 notices need.

mod apollo;
mod cache;
mod dry_run;
mod hunter;
mod waterfall;

pub use apollo::{ApolloClient, ApolloConfig, MAX_BULK_MATCH, MOBILE_PHONE_CREDITS};
pub use cache::{CachedContact, EnrichmentCache, MemoryCache};
pub use dry_run::DryRunEnrichment;
pub use hunter::{HunterClient, HunterConfig};
pub use waterfall::{Budget, DEFAULT_CACHE_TTL, Enrichment, Step, StepOutcome, Waterfall};

use crate::dry_run::{Delivery, Mode};
use crate::error::ProviderError;
use crate::provider::Provider;
use crate::usage::Credits;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who to look up. Providers use what they need and refuse what is too thin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonQuery {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The company's web domain, e.g. `acme.com`.
    pub domain: Option<String>,
    pub company: Option<String>,
    pub email: Option<String>,
    pub linkedin_url: Option<String>,
}

impl PersonQuery {
    /// A normalized key: the same person asked twice hits the cache.
    pub fn cache_key(&self) -> String {
        let norm = |v: &Option<String>| {
            v.as_deref()
                .map(|s| s.trim().to_lowercase())
                .unwrap_or_default()
        };
        let domain = norm(&self.domain);
        let domain = domain.trim_start_matches("www.").to_owned();
        [
            norm(&self.first_name),
            norm(&self.last_name),
            domain,
            norm(&self.company),
            norm(&self.email),
            norm(&self.linkedin_url),
        ]
        .join("|")
    }
}

/// A value with its provenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Provider,
    pub fetched_at: DateTime<Utc>,
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: Provider, fetched_at: DateTime<Utc>) -> Self {
        Self {
            value,
            source,
            fetched_at,
        }
    }
}

/// Deliverability of an address, in Hunter's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Valid,
    Invalid,
    /// Catch-all domain: the server accepts anything, so the address is
    /// unproven. Risky, not valid.
    AcceptAll,
    Webmail,
    Disposable,
    Unknown,
}

impl EmailStatus {
    pub fn parse(text: &str) -> Self {
        match text {
            "valid" | "verified" => Self::Valid,
            "invalid" => Self::Invalid,
            "accept_all" => Self::AcceptAll,
            "webmail" => Self::Webmail,
            "disposable" => Self::Disposable,
            _ => Self::Unknown,
        }
    }

    /// Safe to send outreach to without more checks.
    pub fn is_sendable(self) -> bool {
        matches!(self, Self::Valid | Self::Webmail)
    }

    /// Must never be sent to.
    pub fn is_undeliverable(self) -> bool {
        matches!(self, Self::Invalid | Self::Disposable)
    }
}

/// What is known about a person; each field says where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<Sourced<String>>,
    /// The provider's confidence in the email, 0–100.
    pub email_score: Option<Sourced<u8>>,
    pub email_status: Option<Sourced<EmailStatus>>,
    pub first_name: Option<Sourced<String>>,
    pub last_name: Option<Sourced<String>>,
    pub title: Option<Sourced<String>>,
    pub phone: Option<Sourced<String>>,
    pub linkedin_url: Option<Sourced<String>>,
    pub company: Option<Sourced<String>>,
    pub company_domain: Option<Sourced<String>>,
}

impl Contact {
    pub fn is_empty(&self) -> bool {
        *self == Contact::default()
    }

    /// Fills the fields still empty from `other`; fields already known keep
    /// their value and provenance (the earlier source in the waterfall wins).
    pub fn fill_from(&mut self, other: Contact) {
        fn fill<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        fill(&mut self.email, other.email);
        fill(&mut self.email_score, other.email_score);
        fill(&mut self.email_status, other.email_status);
        fill(&mut self.first_name, other.first_name);
        fill(&mut self.last_name, other.last_name);
        fill(&mut self.title, other.title);
        fill(&mut self.phone, other.phone);
        fill(&mut self.linkedin_url, other.linkedin_url);
        fill(&mut self.company, other.company);
        fill(&mut self.company_domain, other.company_domain);
    }
}

/// One provider's answer to a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Empty when nothing was found.
    pub contact: Contact,
    /// Credits this lookup cost (zero when nothing was found).
    pub cost: Credits,
    pub delivery: Delivery,
}

/// One verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub status: Sourced<EmailStatus>,
    pub score: Option<u8>,
    pub cost: Credits,
    pub delivery: Delivery,
}

#[async_trait]
pub trait EnrichmentProvider: Send + Sync {
    fn source(&self) -> Provider;
    fn mode(&self) -> Mode;
    /// The most one lookup can cost; the waterfall needs this much budget
    /// left before it calls.
    fn max_cost(&self) -> Credits;
    async fn lookup(&self, query: &PersonQuery) -> Result<Lookup, ProviderError>;
}

#[async_trait]
pub trait EmailVerifier: Send + Sync {
    fn source(&self) -> Provider;
    fn mode(&self) -> Mode;
    fn cost(&self) -> Credits;
    /// `Err(Pending)` (retryable) while the provider is still checking.
    async fn verify(&self, email: &str) -> Result<Verification, ProviderError>;
}

pub(crate) fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_ignores_case_spaces_and_www() {
        let a = PersonQuery {
            first_name: Some(" Lee ".into()),
            last_name: Some("DOE".into()),
            domain: Some("www.Acme.com".into()),
            ..PersonQuery::default()
        };
        let b = PersonQuery {
            first_name: Some("lee".into()),
            last_name: Some("doe".into()),
            domain: Some("acme.com".into()),
            ..PersonQuery::default()
        };
        assert_eq!(a.cache_key(), b.cache_key());
    }

    #[test]
    fn earlier_sources_keep_their_fields_and_provenance() {
        let t = Utc::now();
        let mut contact = Contact {
            email: Some(Sourced::new("lee@acme.com".into(), Provider::Hunter, t)),
            ..Contact::default()
        };
        contact.fill_from(Contact {
            email: Some(Sourced::new("l.doe@acme.com".into(), Provider::Apollo, t)),
            title: Some(Sourced::new("CTO".into(), Provider::Apollo, t)),
            ..Contact::default()
        });
        let email = contact.email.as_ref().unwrap();
        assert_eq!(
            (email.value.as_str(), email.source),
            ("lee@acme.com", Provider::Hunter)
        );
        assert_eq!(contact.title.unwrap().source, Provider::Apollo);
    }

    #[test]
    fn catch_all_addresses_are_risky_not_valid() {
        assert!(!EmailStatus::parse("accept_all").is_sendable());
        assert!(!EmailStatus::parse("accept_all").is_undeliverable());
        assert!(EmailStatus::parse("valid").is_sendable());
        assert!(EmailStatus::parse("disposable").is_undeliverable());
        assert_eq!(EmailStatus::parse("???"), EmailStatus::Unknown);
    }
}
