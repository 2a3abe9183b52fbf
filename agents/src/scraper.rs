//! `scraper.enrich`: fills what a lead is missing through the Hunter/Apollo waterfall,
//! within the campaign's credit budget, and scores the result.
//!
//! Per lead: the fields it lacks (or whose enrichment is older than 30 days,
//! `scraper::is_fresh`) are looked up along `scraper::waterfall_order(default_providers(),
//! wanted)`, only when `scraper::Budget::can_afford` the first provider's worst case
//! (rule `enrichment_budget_spent`); the adapters' waterfall checks each later provider
//! the same way and verifies a found email with Hunter. An email that is present but never
//! verified is only verified. Values from the CRM export carry no fetch time we can trust,
//! so they are not "stale" (chosen: re-buying every CRM field each campaign would spend
//! the budget on data we have; verification catches the bad addresses).
//!
//! Each filled field gets provenance (`{field, source, fetched_at}`), fields already in
//! the record get source `crm`, and `data_sources` (the GDPR Art. 14 notice) lists them.
//! `email_status` follows Hunter's vocabulary (`EmailVerification::from_hunter`): a
//! catch-all stays `accept_all` with `email_risk: "risky"` (sendable, never "valid").
//! `quality` is `scraper::quality_score`.
//!
//! Errors: a lead left without the data it wanted because a provider answered 429/5xx
//! or timed out fails the step retryably; lookups already made are in the cache, so the
//! retry does not pay for them again.
//!
//! The 30-day cache: with a store ([`Scraper::with_store`]) it is the domain store's
//! `enrichment_cache`, per tenant (input `tenant`, else `REX_TENANT`), shared by every
//! worker; without one it is this process's memory. Each lead's `enrichment.cache_hit`
//! says whether its answer came from the cache. **Deferred to the domain store:** the
//! usage rows (usage records go to the configured `UsageSink`).
//!
//! Country and company are never looked up: the adapters' contact has no country, and
//! the company comes with the lead.

mod cache;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rex_adapters::clock::Clock;
use rex_adapters::enrichment::{
    Budget as Spend, Contact, EmailStatus, EmailVerifier, EnrichmentCache, EnrichmentProvider,
    MemoryCache, PersonQuery, Sourced, StepOutcome, Waterfall,
};
use rex_adapters::{Credits, ProviderError};
use rex_domain::channel::is_e164;
use rex_domain::scraper::{
    Budget, EmailVerification, EnrichedRecord, Field, Provenance, Provider, data_sources,
    default_providers, email_risk, is_fresh, quality_score, waterfall_order,
};
use rex_store::Store;
use rex_workers::{Agent, StepError, TaskContext};
use serde_json::{Value, json};
use tracing::Instrument;
use uuid::Uuid;

use crate::config::AgentsConfig;
use crate::credentials::{Source, TenantProviders};
use crate::error::AgentsError;
use crate::input::{self, Obj, bad};

const ACTIONS: &[&str] = &["enrich"];

/// Source name of data that came with the lead.
pub const CRM_SOURCE: &str = "crm";

pub struct Scraper {
    /// Each tenant's Hunter and Apollo clients (`crate::credentials`).
    providers: TenantProviders,
    /// The cache without a store.
    cache: Arc<dyn EnrichmentCache>,
    clock: Arc<dyn Clock>,
    /// Where the cache lives when set, with the tenant slug of a task that names none.
    store: Option<(Store, String)>,
}

impl Scraper {
    /// Live clients where keys are configured, dry-run stand-ins elsewhere; each
    /// tenant's own once given a store ([`Scraper::with_store`]).
    pub fn from_config(config: &AgentsConfig) -> Result<Self, AgentsError> {
        Ok(Self {
            providers: TenantProviders::from_config(config)?,
            cache: Arc::new(MemoryCache::new()),
            clock: config.clock.clone(),
            store: None,
        })
    }

    /// The 30-day cache is kept in `store`, for the input's `tenant` or else
    /// `default_tenant` (created on first use).
    /// Each tenant's stored Hunter and Apollo credentials are used too.
    pub fn with_store(mut self, store: Store, default_tenant: &str) -> Self {
        self.providers = self.providers.with_store(store.clone());
        self.store = Some((store, default_tenant.to_owned()));
        self
    }

    /// The cache for one lead's lookup: the store's entry for `key`, or this process's.
    async fn cache_for(
        &self,
        tenant: Option<Uuid>,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<dyn EnrichmentCache>, StepError> {
        match (&self.store, tenant) {
            (Some((store, _)), Some(tenant)) => Ok(Arc::new(
                cache::StoreCache::load(store, tenant, key, now).await?,
            )),
            _ => Ok(self.cache.clone()),
        }
    }
}

#[async_trait]
impl Agent for Scraper {
    fn name(&self) -> &'static str {
        "scraper"
    }

    fn actions(&self) -> &'static [&'static str] {
        ACTIONS
    }

    async fn run(&self, ctx: &TaskContext, input: Value) -> Result<Value, StepError> {
        let span = crate::action_span("scraper", ctx);
        async {
            let input = crate::scoped_input(ctx, input)?;
            let obj = input::object(&input)?;
            match ctx.action.as_str() {
                "enrich" => self.enrich(ctx, obj).await,
                _ => Err(crate::unknown_action("scraper", ctx, ACTIONS)),
            }
        }
        .instrument(span)
        .await
    }
}

/// The counters of `spent`.
#[derive(Default)]
struct Spent {
    cache_hits: usize,
    lookups: usize,
    dry_run_lookups: usize,
    skipped_budget: usize,
    up_to_date: usize,
}

fn credits_json(c: Credits) -> Value {
    if c.millis().is_multiple_of(1000) {
        json!(c.millis() / 1000)
    } else {
        json!(f64::from(c.millis()) / 1000.0)
    }
}

fn field_key(field: Field) -> &'static str {
    match field {
        Field::Email => "email",
        Field::Phone => "phone",
        Field::Title => "title",
        Field::Company => "company.name",
        Field::Linkedin => "linkedin_url",
        Field::Country => "country",
    }
}

/// What a lead is missing or holds stale, and whether its email needs verification.
fn wanted(
    lead: &Obj,
    provenance: &[Provenance],
    now: DateTime<Utc>,
    status: EmailVerification,
) -> (Vec<Field>, bool) {
    let stale = |f: Field| {
        provenance
            .iter()
            .any(|p| p.field == f && p.source != CRM_SOURCE && !is_fresh(p.fetched_at, now))
    };
    let missing = |f: Field| {
        input::get(lead, field_key(f))
            .is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty()))
    };
    let mut fields = Vec::new();
    let bad_email = matches!(
        status,
        EmailVerification::Invalid | EmailVerification::Disposable
    );
    if missing(Field::Email) || bad_email || stale(Field::Email) {
        fields.push(Field::Email);
    }
    for f in [Field::Phone, Field::Title, Field::Linkedin] {
        if missing(f) || stale(f) {
            fields.push(f);
        }
    }
    let verify = !fields.contains(&Field::Email)
        && matches!(
            status,
            EmailVerification::Unverified | EmailVerification::Unknown
        );
    (fields, verify)
}

fn status_of(s: EmailStatus) -> EmailVerification {
    let name = serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    EmailVerification::from_hunter(&name)
}

fn provenance_of<T>(field: Field, s: &Sourced<T>) -> Provenance {
    Provenance {
        field,
        source: s.source.to_string(),
        fetched_at: s.fetched_at,
    }
}

/// `+`, then the digits: Apollo formats numbers for people (`+1 415-555-0100`).
fn e164(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let number = format!("+{digits}");
    (raw.trim_start().starts_with('+') && is_e164(&number)).then_some(number)
}

/// Writes what the providers found into the lead, for the wanted fields only.
fn merge(lead: &mut Obj, contact: &Contact, wanted: &[Field], provenance: &mut Vec<Provenance>) {
    let mut set = |lead: &mut Obj, field: Field, value: Value, p: Provenance| {
        lead.insert(field_key(field).to_owned(), value);
        provenance.retain(|old| old.field != field);
        provenance.push(p);
    };
    let old_email = input::get(lead, "email")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let mut email_taken = false;
    if wanted.contains(&Field::Email)
        && let Some(email) = &contact.email
    {
        set(
            lead,
            Field::Email,
            json!(email.value),
            provenance_of(Field::Email, email),
        );
        email_taken = true;
    }
    let same_email = contact
        .email
        .as_ref()
        .is_some_and(|e| old_email.as_deref() == Some(e.value.to_lowercase().as_str()));
    if (email_taken || same_email)
        && let Some(status) = &contact.email_status
    {
        lead.insert("email_status".into(), json!(status_of(status.value)));
    }
    if wanted.contains(&Field::Phone)
        && let Some(phone) = &contact.phone
        && let Some(number) = e164(&phone.value)
    {
        set(
            lead,
            Field::Phone,
            json!(number),
            provenance_of(Field::Phone, phone),
        );
    }
    if wanted.contains(&Field::Title)
        && let Some(title) = &contact.title
    {
        set(
            lead,
            Field::Title,
            json!(title.value),
            provenance_of(Field::Title, title),
        );
    }
    if wanted.contains(&Field::Linkedin)
        && let Some(url) = &contact.linkedin_url
    {
        set(
            lead,
            Field::Linkedin,
            json!(url.value),
            provenance_of(Field::Linkedin, url),
        );
    }
}

/// Provenance for fields that came with the lead and have none yet.
fn crm_provenance(
    lead: &Obj,
    path: &str,
    provenance: &mut Vec<Provenance>,
    now: DateTime<Utc>,
) -> Result<(), StepError> {
    let at = input::parse::<DateTime<Utc>>(lead, path, "history.created_at")?.unwrap_or(now);
    for field in [
        Field::Email,
        Field::Phone,
        Field::Title,
        Field::Company,
        Field::Linkedin,
        Field::Country,
    ] {
        let present = input::get(lead, field_key(field)).is_some_and(|v| !v.is_null());
        if present && !provenance.iter().any(|p| p.field == field) {
            provenance.push(Provenance {
                field,
                source: CRM_SOURCE.into(),
                fetched_at: at,
            });
        }
    }
    Ok(())
}

fn record(lead: &Obj, provenance: &[Provenance]) -> EnrichedRecord {
    let has = |k: &str| {
        input::get(lead, k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let status = input::get(lead, "email_status")
        .and_then(|v| serde_json::from_value::<EmailVerification>(v.clone()).ok())
        .unwrap_or_default();
    EnrichedRecord {
        email_status: has("email").then_some(status),
        has_name: has("first_name") || has("last_name"),
        has_title: has("title"),
        has_company: has("company.name"),
        has_phone: has("phone"),
        has_linkedin: has("linkedin_url"),
        has_country: has("country"),
        fetched_at: provenance
            .iter()
            .filter(|p| p.source != CRM_SOURCE)
            .map(|p| p.fetched_at)
            .max(),
    }
}

fn query(lead: &Obj, path: &str) -> Result<PersonQuery, StepError> {
    Ok(PersonQuery {
        first_name: input::text(lead, path, "first_name")?,
        last_name: input::text(lead, path, "last_name")?,
        domain: input::text(lead, path, "company.domain")?,
        company: input::text(lead, path, "company.name")?,
        email: input::text(lead, path, "email")?,
        linkedin_url: input::text(lead, path, "linkedin_url")?,
    })
}

/// One task's enrichment clients: its tenant's (`crate::credentials`).
struct Clients {
    hunter: Arc<dyn EnrichmentProvider>,
    apollo: Arc<dyn EnrichmentProvider>,
    verifier: Option<Arc<dyn EmailVerifier>>,
}

impl Clients {
    fn provider(&self, p: Provider) -> Option<Arc<dyn EnrichmentProvider>> {
        match p {
            Provider::Hunter => Some(self.hunter.clone()),
            Provider::Apollo => Some(self.apollo.clone()),
            Provider::Clearbit => None,
        }
    }
}

impl Scraper {
    /// The tenant's clients (the environment's without a store); records on the span
    /// whose credentials they use: `tenant` when either provider uses the tenant's.
    async fn clients(&self, tenant: Option<Uuid>) -> Result<Clients, StepError> {
        let set = match tenant {
            Some(t) => self.providers.for_tenant(t).await?,
            None => self.providers.environment(),
        };
        let (hunter_source, (hunter, verifier)) = set.hunter.get()?;
        let (apollo_source, apollo) = set.apollo.get()?;
        let source = [Source::Tenant, Source::Environment, Source::DryRun]
            .into_iter()
            .find(|s| *s == hunter_source || *s == apollo_source)
            .unwrap_or(Source::DryRun);
        crate::credentials::record_source(source);
        Ok(Clients {
            hunter,
            apollo,
            verifier,
        })
    }

    async fn enrich(&self, task: &TaskContext, input: &Obj) -> Result<Value, StepError> {
        let items = input::array(input, "leads")?;
        let leads = input::with_ids(items, "leads")?;
        let limit =
            input::whole(input, "budget", u64::from(u32::MAX / 1000))?.ok_or_else(|| {
                bad(
                    "input.budget",
                    "required (provider credits for this campaign)",
                )
            })?;
        let limit = u32::try_from(limit).unwrap_or(u32::MAX / 1000);
        let now = self.clock.now();
        let tenant = match &self.store {
            Some((store, default)) => Some(crate::tenant_id(store, input, default, now).await?),
            None => None,
        };
        let clients = self.clients(tenant).await?;
        let profiles = default_providers();
        let mut spend = Spend::new(Credits::whole(limit));
        let mut spent = Spent::default();
        let mut out = Vec::with_capacity(leads.len());
        let total = leads.len();
        for (done, (id, path, obj)) in leads.into_iter().enumerate() {
            crate::check_cancel(task, done, total)?;
            let mut lead = obj.clone();
            let mut provenance: Vec<Provenance> =
                input::parse(obj, &path, "provenance")?.unwrap_or_default();
            let status = crate::lead::email_status(obj, &path)?;
            let (fields, verify) = wanted(obj, &provenance, now, status);
            let mut steps = Vec::new();
            let mut note = None;
            let mut cache_hit = false;
            if !fields.is_empty() {
                let order = waterfall_order(&profiles, &fields);
                let first_cost = order
                    .first()
                    .and_then(|p| profiles.iter().find(|pp| pp.provider == *p))
                    .map_or(0, |p| p.max_cost(&fields));
                let domain_budget = Budget {
                    limit,
                    spent: spend.spent.millis().div_ceil(1000),
                };
                if !domain_budget.can_afford(first_cost) {
                    spent.skipped_budget += 1;
                    note = Some(format!(
                        "enrichment_budget_spent: lookup may cost {first_cost} credits, {} left",
                        domain_budget.remaining()
                    ));
                } else {
                    let providers: Vec<_> =
                        order.iter().filter_map(|p| clients.provider(*p)).collect();
                    let person = query(obj, &path)?;
                    let cache = self.cache_for(tenant, &person.cache_key(), now).await?;
                    let mut waterfall =
                        Waterfall::new(cache, providers).with_clock(self.clock.clone());
                    if let Some(v) = &clients.verifier {
                        waterfall = waterfall.with_verifier(v.clone());
                    }
                    let result = waterfall.enrich(&person, &mut spend).await;
                    if result.worth_retrying()
                        && let Some(error) = result.steps.iter().find_map(|s| match &s.outcome {
                            StepOutcome::Failed {
                                error,
                                retryable: true,
                            } => Some(error.clone()),
                            _ => None,
                        })
                    {
                        return Err(StepError::retryable(format!(
                            "{path} ({id}): enrichment: {error}"
                        )));
                    }
                    cache_hit = result.from_cache;
                    spent.cache_hits += usize::from(result.from_cache);
                    spent.skipped_budget += usize::from(result.stopped_by_budget);
                    for s in &result.steps {
                        match s.outcome {
                            StepOutcome::DryRun => spent.dry_run_lookups += 1,
                            StepOutcome::CacheHit | StepOutcome::SkippedBudget => {}
                            _ => spent.lookups += 1,
                        }
                    }
                    merge(&mut lead, &result.contact, &fields, &mut provenance);
                    steps = result.steps.iter().map(|s| json!(s)).collect();
                }
            } else if verify {
                match Self::verify(&clients, &lead, &mut spend).await {
                    Ok(Some((s, step))) => {
                        spent.lookups += 1;
                        lead.insert("email_status".into(), json!(s));
                        steps.push(step);
                    }
                    Ok(None) => spent.up_to_date += 1,
                    Err(e) if matches!(e, ProviderError::Pending { .. }) => {
                        note = Some(format!("verification pending: {e}"));
                    }
                    Err(e) if crate::provider::is_transient(&e) => {
                        return Err(crate::provider::step_error(
                            &format!("{path} ({id}): verification"),
                            &e,
                        ));
                    }
                    Err(e) => note = Some(format!("verification failed: {e}")),
                }
            } else {
                spent.up_to_date += 1;
            }
            crm_provenance(&lead, &path, &mut provenance, now)?;
            let rec = record(&lead, &provenance);
            let status = rec.email_status;
            lead.insert("quality".into(), json!(quality_score(&rec, now)));
            lead.insert("email_risk".into(), json!(status.map(email_risk)));
            lead.insert("data_sources".into(), json!(data_sources(&provenance)));
            lead.insert("provenance".into(), json!(provenance));
            lead.insert(
                "enrichment".into(),
                json!({"wanted": fields, "verify": verify, "steps": steps, "note": note,
                       "cache_hit": cache_hit}),
            );
            out.push(Value::Object(lead));
        }
        let mode = |p: &dyn EnrichmentProvider| json!(p.mode());
        Ok(json!({
            "leads": out,
            "spent": {
                "credits": credits_json(spend.spent),
                "budget": limit,
                "cache_hits": spent.cache_hits,
                "lookups": spent.lookups,
                "dry_run_lookups": spent.dry_run_lookups,
                "skipped_budget": spent.skipped_budget,
                "up_to_date": spent.up_to_date,
                "cache": if self.store.is_some() { "domain_store" } else { "process_memory" },
                "providers": {"hunter": mode(clients.hunter.as_ref()), "apollo": mode(clients.apollo.as_ref())},
            },
        }))
    }

    /// Verifies the lead's email when a live verifier is configured and the budget allows.
    async fn verify(
        clients: &Clients,
        lead: &Obj,
        spend: &mut Spend,
    ) -> Result<Option<(EmailVerification, Value)>, ProviderError> {
        let (Some(verifier), Some(email)) = (
            &clients.verifier,
            input::get(lead, "email").and_then(Value::as_str),
        ) else {
            return Ok(None);
        };
        if !spend.can_afford(verifier.cost()) {
            return Ok(None);
        }
        let v = verifier.verify(email).await?;
        spend.spent += v.cost;
        let step = json!({"source": v.status.source, "operation": "verify", "outcome": "verified", "cost": v.cost});
        Ok(Some((status_of(v.status.value), step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apollo_phone_formats_become_e164_or_nothing() {
        assert_eq!(e164("+1 415-555-0100").as_deref(), Some("+14155550100"));
        assert_eq!(e164("(415) 555-0100"), None);
        assert_eq!(e164("+0 12"), None);
    }

    #[test]
    fn a_lead_with_everything_wants_nothing_and_a_bad_email_wants_a_new_one() {
        let now = rex_domain::demo::as_of();
        let full = json!({"email": "a@b.example", "phone": "+14155550100", "title": "CTO",
                          "linkedin_url": "https://linkedin.com/in/a"});
        let obj = full.as_object().unwrap();
        assert_eq!(
            wanted(obj, &[], now, EmailVerification::Valid),
            (vec![], false)
        );
        assert_eq!(
            wanted(obj, &[], now, EmailVerification::Unverified),
            (vec![], true)
        );
        assert_eq!(
            wanted(obj, &[], now, EmailVerification::Invalid).0,
            vec![Field::Email]
        );
        let old = Provenance {
            field: Field::Phone,
            source: "apollo".into(),
            fetched_at: now - chrono::Duration::days(31),
        };
        assert_eq!(
            wanted(obj, &[old], now, EmailVerification::Valid).0,
            vec![Field::Phone]
        );
    }
}
