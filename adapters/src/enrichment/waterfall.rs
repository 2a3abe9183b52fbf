//! The enrichment waterfall: cache, then each provider in order (Hunter,
//! then Apollo), stopping once an email is found or the mission's credit
//! budget cannot pay for the next call; then verification of the email.

use super::cache::EnrichmentCache;
use super::{Contact, EmailVerifier, EnrichmentProvider, PersonQuery};
use crate::clock::{Clock, SystemClock};
use crate::provider::Provider;
use crate::usage::Credits;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Cached enrichments are reused for 30 days.
pub const DEFAULT_CACHE_TTL: chrono::Duration = chrono::Duration::days(30);

/// A mission's enrichment budget. Plain data: the caller stores it with the
/// mission and passes it to every [`Waterfall::enrich`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub limit: Credits,
    pub spent: Credits,
}

impl Budget {
    pub fn new(limit: Credits) -> Self {
        Self {
            limit,
            spent: Credits::ZERO,
        }
    }

    pub fn remaining(&self) -> Credits {
        self.limit.saturating_sub(self.spent)
    }

    pub fn can_afford(&self, cost: Credits) -> bool {
        self.spent + cost <= self.limit
    }

    fn charge(&mut self, cost: Credits) {
        self.spent += cost;
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    CacheHit,
    Found,
    NotFound,
    /// The call failed; the waterfall moved on.
    Failed {
        error: String,
        retryable: bool,
    },
    /// Not called: the budget could not pay for it.
    SkippedBudget,
    /// A dry-run provider: nothing was looked up.
    DryRun,
    Verified,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub source: Option<Provider>,
    pub operation: &'static str,
    pub outcome: StepOutcome,
    pub cost: Credits,
}

/// What the waterfall found, what it cost and how it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enrichment {
    pub contact: Contact,
    pub spent: Credits,
    pub steps: Vec<Step>,
    pub from_cache: bool,
    pub stopped_by_budget: bool,
    /// At least one provider ran in dry-run: the result is not real.
    pub dry_run: bool,
}

impl Enrichment {
    /// No email yet, but a provider failed in a way that may pass later.
    pub fn worth_retrying(&self) -> bool {
        self.contact.email.is_none()
            && self.steps.iter().any(|s| {
                matches!(
                    s.outcome,
                    StepOutcome::Failed {
                        retryable: true,
                        ..
                    }
                )
            })
    }
}

pub struct Waterfall {
    cache: Arc<dyn EnrichmentCache>,
    providers: Vec<Arc<dyn EnrichmentProvider>>,
    verifier: Option<Arc<dyn EmailVerifier>>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for Waterfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<Provider> = self.providers.iter().map(|p| p.source()).collect();
        f.debug_struct("Waterfall")
            .field("providers", &sources)
            .field("verifier", &self.verifier.as_ref().map(|v| v.source()))
            .field("ttl_days", &self.ttl.num_days())
            .finish_non_exhaustive()
    }
}

impl Waterfall {
    /// Providers are tried in the given order.
    pub fn new(
        cache: Arc<dyn EnrichmentCache>,
        providers: Vec<Arc<dyn EnrichmentProvider>>,
    ) -> Self {
        Self {
            cache,
            providers,
            verifier: None,
            clock: Arc::new(SystemClock),
            ttl: DEFAULT_CACHE_TTL,
        }
    }

    pub fn with_cache(mut self, cache: Arc<dyn EnrichmentCache>) -> Self {
        self.cache = cache;
        self
    }

    pub fn with_verifier(mut self, verifier: Arc<dyn EmailVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn providers(&self) -> &[Arc<dyn EnrichmentProvider>] {
        &self.providers
    }

    /// Enriches one person, charging `budget`. Never fails: each provider's
    /// error is recorded as a step and the waterfall moves on.
    pub async fn enrich(&self, query: &PersonQuery, budget: &mut Budget) -> Enrichment {
        let key = query.cache_key();
        let now = self.clock.now();
        if let Some(cached) = self.cache.get(&key).await
            && now - cached.cached_at < self.ttl
        {
            return Enrichment {
                contact: cached.contact,
                spent: Credits::ZERO,
                steps: vec![Step {
                    source: None,
                    operation: "cache",
                    outcome: StepOutcome::CacheHit,
                    cost: Credits::ZERO,
                }],
                from_cache: true,
                stopped_by_budget: false,
                dry_run: false,
            };
        }

        let mut result = Enrichment {
            contact: Contact::default(),
            spent: Credits::ZERO,
            steps: Vec::new(),
            from_cache: false,
            stopped_by_budget: false,
            dry_run: false,
        };
        for provider in &self.providers {
            if result.contact.email.is_some() {
                break;
            }
            let step = |outcome, cost| Step {
                source: Some(provider.source()),
                operation: "lookup",
                outcome,
                cost,
            };
            if !budget.can_afford(provider.max_cost()) {
                result
                    .steps
                    .push(step(StepOutcome::SkippedBudget, Credits::ZERO));
                result.stopped_by_budget = true;
                break;
            }
            match provider.lookup(query).await {
                Ok(lookup) => {
                    budget.charge(lookup.cost);
                    result.spent += lookup.cost;
                    let outcome = if lookup.delivery.is_dry_run() {
                        result.dry_run = true;
                        StepOutcome::DryRun
                    } else if lookup.contact.is_empty() {
                        StepOutcome::NotFound
                    } else {
                        StepOutcome::Found
                    };
                    result.steps.push(step(outcome, lookup.cost));
                    result.contact.fill_from(lookup.contact);
                }
                Err(e) => result.steps.push(step(
                    StepOutcome::Failed {
                        error: e.to_string(),
                        retryable: e.is_retryable(),
                    },
                    Credits::ZERO,
                )),
            }
        }

        self.verify(&mut result, budget).await;

        if !result.contact.is_empty() && !result.dry_run {
            self.cache.put(&key, &result.contact, now).await;
        }
        result
    }

    async fn verify(&self, result: &mut Enrichment, budget: &mut Budget) {
        let (Some(verifier), Some(email)) = (&self.verifier, &result.contact.email) else {
            return;
        };
        // A provider's own "verified" is trusted; anything less is checked.
        let known = result
            .contact
            .email_status
            .as_ref()
            .is_some_and(|s| s.value != super::EmailStatus::Unknown);
        if known || result.stopped_by_budget {
            return;
        }
        let step = |outcome, cost| Step {
            source: Some(verifier.source()),
            operation: "verify",
            outcome,
            cost,
        };
        if !budget.can_afford(verifier.cost()) {
            result
                .steps
                .push(step(StepOutcome::SkippedBudget, Credits::ZERO));
            result.stopped_by_budget = true;
            return;
        }
        match verifier.verify(&email.value).await {
            Ok(verification) => {
                budget.charge(verification.cost);
                result.spent += verification.cost;
                result.contact.email_score = result.contact.email_score.take().or_else(|| {
                    verification.score.map(|s| {
                        super::Sourced::new(
                            s,
                            verification.status.source,
                            verification.status.fetched_at,
                        )
                    })
                });
                result.contact.email_status = Some(verification.status);
                result
                    .steps
                    .push(step(StepOutcome::Verified, verification.cost));
            }
            Err(e) => result.steps.push(step(
                StepOutcome::Failed {
                    error: e.to_string(),
                    retryable: e.is_retryable(),
                },
                Credits::ZERO,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::dry_run::{Delivery, DryRunLog, Mode};
    use crate::enrichment::{DryRunEnrichment, Lookup, MemoryCache, Sourced};
    use crate::error::ProviderError;
    use async_trait::async_trait;
    use chrono::Utc;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A provider double for the waterfall's own logic (the HTTP clients
    /// are tested against local servers in tests/providers).
    struct Scripted {
        source: Provider,
        email: Option<&'static str>,
        cost: Credits,
        fail: bool,
        calls: AtomicU32,
    }

    impl Scripted {
        fn new(source: Provider, email: Option<&'static str>, cost: u32) -> Arc<Self> {
            Arc::new(Self {
                source,
                email,
                cost: Credits::whole(cost),
                fail: false,
                calls: AtomicU32::new(0),
            })
        }
    }

    #[async_trait]
    impl EnrichmentProvider for Scripted {
        fn source(&self) -> Provider {
            self.source
        }
        fn mode(&self) -> Mode {
            Mode::Live
        }
        fn max_cost(&self) -> Credits {
            self.cost
        }
        async fn lookup(&self, _: &PersonQuery) -> Result<Lookup, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(ProviderError::Unavailable {
                    provider: self.source,
                    status: 503,
                    code: None,
                    message: "down".into(),
                    retry_after: None,
                });
            }
            let contact = match self.email {
                Some(e) => Contact {
                    email: Some(Sourced::new(e.to_owned(), self.source, Utc::now())),
                    ..Contact::default()
                },
                None => Contact::default(),
            };
            let cost = if self.email.is_some() {
                self.cost
            } else {
                Credits::ZERO
            };
            Ok(Lookup {
                contact,
                cost,
                delivery: Delivery::Sent,
            })
        }
    }

    fn query() -> PersonQuery {
        PersonQuery {
            first_name: Some("Lee".into()),
            last_name: Some("Doe".into()),
            domain: Some("acme.com".into()),
            ..PersonQuery::default()
        }
    }

    #[tokio::test]
    async fn the_first_provider_with_an_email_ends_the_waterfall() {
        let hunter = Scripted::new(Provider::Hunter, Some("lee@acme.com"), 1);
        let apollo = Scripted::new(Provider::Apollo, Some("other@acme.com"), 1);
        let waterfall = Waterfall::new(
            Arc::new(MemoryCache::new()),
            vec![hunter.clone(), apollo.clone()],
        );
        let mut budget = Budget::new(Credits::whole(10));
        let result = waterfall.enrich(&query(), &mut budget).await;
        assert_eq!(result.contact.email.unwrap().source, Provider::Hunter);
        assert_eq!(apollo.calls.load(Ordering::SeqCst), 0);
        assert_eq!(budget.spent, Credits::whole(1));
    }

    #[tokio::test]
    async fn not_found_falls_through_to_the_next_provider_at_no_cost() {
        let hunter = Scripted::new(Provider::Hunter, None, 1);
        let apollo = Scripted::new(Provider::Apollo, Some("lee@acme.com"), 1);
        let waterfall = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter, apollo]);
        let mut budget = Budget::new(Credits::whole(10));
        let result = waterfall.enrich(&query(), &mut budget).await;
        assert_eq!(result.steps[0].outcome, StepOutcome::NotFound);
        assert_eq!(result.contact.email.unwrap().source, Provider::Apollo);
        assert_eq!(result.spent, Credits::whole(1));
    }

    #[tokio::test]
    async fn a_spent_budget_stops_the_waterfall_before_the_call() {
        let hunter = Scripted::new(Provider::Hunter, None, 1);
        let apollo = Scripted::new(Provider::Apollo, Some("lee@acme.com"), 9);
        let waterfall = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter, apollo.clone()]);
        let mut budget = Budget::new(Credits::whole(5));
        let result = waterfall.enrich(&query(), &mut budget).await;
        assert!(result.stopped_by_budget);
        assert_eq!(result.steps[1].outcome, StepOutcome::SkippedBudget);
        assert_eq!(apollo.calls.load(Ordering::SeqCst), 0);
        assert!(result.contact.email.is_none());
    }

    #[tokio::test]
    async fn a_failing_provider_is_recorded_and_skipped() {
        let hunter = Arc::new(Scripted {
            fail: true,
            ..Arc::into_inner(Scripted::new(Provider::Hunter, None, 1)).unwrap()
        });
        let apollo = Scripted::new(Provider::Apollo, None, 1);
        let waterfall = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter, apollo]);
        let result = waterfall
            .enrich(&query(), &mut Budget::new(Credits::whole(5)))
            .await;
        assert!(matches!(
            result.steps[0].outcome,
            StepOutcome::Failed {
                retryable: true,
                ..
            }
        ));
        assert!(result.worth_retrying());
    }

    #[tokio::test]
    async fn the_cache_answers_for_thirty_days_then_expires() {
        let clock = ManualClock::new(Utc::now());
        let hunter = Scripted::new(Provider::Hunter, Some("lee@acme.com"), 1);
        let waterfall = Waterfall::new(Arc::new(MemoryCache::new()), vec![hunter.clone()])
            .with_clock(Arc::new(clock.clone()));
        let mut budget = Budget::new(Credits::whole(10));
        waterfall.enrich(&query(), &mut budget).await;
        clock.advance(chrono::Duration::days(29));
        let cached = waterfall.enrich(&query(), &mut budget).await;
        assert!(cached.from_cache);
        assert_eq!(
            cached.contact.email.as_ref().unwrap().source,
            Provider::Hunter
        );
        assert_eq!(hunter.calls.load(Ordering::SeqCst), 1);
        clock.advance(chrono::Duration::days(2));
        let fresh = waterfall.enrich(&query(), &mut budget).await;
        assert!(!fresh.from_cache);
        assert_eq!(hunter.calls.load(Ordering::SeqCst), 2);
        assert_eq!(budget.spent, Credits::whole(2));
    }

    #[tokio::test]
    async fn dry_run_providers_are_labelled_and_never_cached() {
        let log = DryRunLog::new();
        let cache = Arc::new(MemoryCache::new());
        let waterfall = Waterfall::new(
            cache.clone(),
            vec![Arc::new(DryRunEnrichment::new(
                Provider::Hunter,
                log.clone(),
                Arc::new(crate::usage::NoUsage),
            ))],
        );
        let result = waterfall
            .enrich(&query(), &mut Budget::new(Credits::ZERO))
            .await;
        assert!(result.dry_run);
        assert_eq!(result.steps[0].outcome, StepOutcome::DryRun);
        assert_eq!(log.len(), 1);
        assert!(cache.is_empty());
    }
}
