//! Rex's domain agents, written against docs/agents.md: `reviver` (import, score,
//! plan), `icp` (segment, build_profile, rescore), `personalizer` (personalize),
//! `scraper` (enrich) and `analytics` (report), which need no domain database, and
//! `deliverability` (check, recompute_health, advance_warmup, rotate) and `outreach`
//! (send, linkedin_task), which work on the domain store (`rex-domain-store`, in the
//! engine's own database) and are registered only when [`register`] is given a store.
//!
//! Each agent is thin IO around `rex-domain`: it reads the task's JSON, calls the pure
//! functions the contract names, calls providers through `rex-adapters` (dry-run
//! stand-ins without credentials), and answers JSON that only ever adds fields to the
//! records it was given. Bad input is a permanent [`StepError`] naming the field;
//! provider 429s, 5xxs and timeouts are retryable.
//!
//! `outreach.handle_event` (module [`events`]) publishes `lead.*` signals through an
//! [`rex_engine::Engine`] handle, so it is offered only by [`register_with_engine`].
//!
//! With a store ([`register`] given one), `reviver.import` upserts the leads and records
//! their suppressions, `scraper.enrich` keeps its 30-day cache per tenant,
//! `icp.build_profile` stores numbered profile versions, `icp.rescore` writes each
//! lead's fit, and `analytics.report` reads a campaign's messages and delivery events
//! when its input carries no `events`; without one they write nothing (cache and
//! profiles then live in process memory).
//!
//! The agents do no broker IO: the worker runtime does that; the engine is used only as
//! the handle `handle_event` publishes through. The one consumer here is [`inbox`], which
//! takes the provider events the API's webhooks hand to the broker's inbox queue and
//! runs them through `handle_event`'s code ([`inbox_consumer`] builds it). It uses the store
//! through `rex-domain-store`'s queries.

pub mod analytics;
mod config;
pub mod credentials;
pub mod decisions;
pub mod deliverability;
mod error;
pub mod events;
pub mod icp;
pub mod inbox;
mod input;
mod lead;
pub mod outreach;
pub mod personalizer;
mod provider;
pub mod reviver;
pub mod scraper;
pub mod simulation;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rex_domain_store::DomainStoreError;
use rex_store::Store;
use rex_workers::{Registry, StepError, TaskContext};
use uuid::Uuid;

pub use config::{AgentsConfig, MetricsUsage, OutreachSettings};
pub use error::AgentsError;

/// The agents of this crate, sorted.
pub const NAMES: [&str; 7] = [
    "analytics",
    "deliverability",
    "icp",
    "outreach",
    "personalizer",
    "reviver",
    "scraper",
];

/// The agents that need the domain store: without one, [`register`] leaves them out.
pub const STORE_AGENTS: [&str; 2] = ["deliverability", "outreach"];

/// Adds this crate's agents to `registry`, built from `config`. `store` is the engine's
/// database, which holds the domain tables; without it `deliverability` and `outreach`
/// are not registered.
pub fn register(
    registry: &mut Registry,
    config: AgentsConfig,
    store: Option<Store>,
) -> Result<(), AgentsError> {
    register_inner(registry, config, store.map(|s| (s, None)))
}

/// As [`register`] with a store, and `outreach` also offers `handle_event`, which
/// publishes `lead.*` signals through `engine` (built on the same database).
pub fn register_with_engine(
    registry: &mut Registry,
    config: AgentsConfig,
    store: Store,
    engine: rex_engine::Engine,
) -> Result<(), AgentsError> {
    register_inner(registry, config, Some((store, Some(engine))))
}

fn register_inner(
    registry: &mut Registry,
    config: AgentsConfig,
    store: Option<(Store, Option<rex_engine::Engine>)>,
) -> Result<(), AgentsError> {
    let reviver = reviver::Reviver::new(config.clock.clone());
    registry.register(Arc::new(match &store {
        Some((s, _)) => reviver.with_store(s.clone(), &config.outreach.tenant),
        None => reviver,
    }));
    let icp = icp::Icp::new(config.clock.clone());
    registry.register(Arc::new(match &store {
        Some((s, _)) => icp.with_store(s.clone(), &config.outreach.tenant),
        None => icp,
    }));
    let personalizer = personalizer::Personalizer::from_config(&config)?;
    registry.register(Arc::new(match &store {
        Some((s, _)) => personalizer.with_store(s.clone(), &config.outreach.tenant),
        None => personalizer,
    }));
    let scraper = scraper::Scraper::from_config(&config)?;
    registry.register(Arc::new(match &store {
        Some((s, _)) => scraper.with_store(s.clone(), &config.outreach.tenant),
        None => scraper,
    }));
    registry.register(Arc::new(match &store {
        Some((s, _)) => analytics::Analytics::new().with_store(s.clone(), &config.outreach.tenant),
        None => analytics::Analytics::new(),
    }));
    if let Some((store, engine)) = store {
        registry.register(Arc::new(deliverability::Deliverability::new(
            store.clone(),
            &config,
        )));
        let mut outreach = outreach::Outreach::from_config(store.clone(), &config)?;
        if let Some(engine) = engine {
            let llm = config
                .llm
                .clone()
                .map(|c| {
                    rex_adapters::llm::LlmClient::from_config(
                        Some(c),
                        config.dry_run.clone(),
                        config.usage.clone(),
                    )
                })
                .transpose()?;
            let tenants =
                credentials::TenantProviders::from_config(&config)?.with_store(store.clone());
            outreach = outreach.with_events(
                events::Events::new(store, engine, config.clock.clone(), &config.outreach.tenant)
                    .with_llm(llm)
                    .with_tenant_credentials(tenants),
            );
        }
        registry.register(Arc::new(outreach));
    }
    Ok(())
}

/// The consumer of the inbox queue (provider webhooks), processing each event as
/// `outreach.handle_event` does, with the same reply classifier. Run it with
/// [`inbox::Inbox::run`] where the `outreach` agent runs.
pub fn inbox_consumer(
    config: &AgentsConfig,
    store: Store,
    engine: rex_engine::Engine,
) -> Result<inbox::Inbox, AgentsError> {
    let llm = config
        .llm
        .clone()
        .map(|c| {
            rex_adapters::llm::LlmClient::from_config(
                Some(c),
                config.dry_run.clone(),
                config.usage.clone(),
            )
        })
        .transpose()?;
    let events = events::Events::new(
        store.clone(),
        engine,
        config.clock.clone(),
        &config.outreach.tenant,
    )
    .with_llm(llm)
    .with_tenant_credentials(
        credentials::TenantProviders::from_config(config)?.with_store(store.clone()),
    );
    Ok(inbox::Inbox::new(store, events))
}

/// A domain-store failure as a step error: retryable when the database says so (lost
/// connection, serialization failure, SQLite busy).
pub(crate) fn store_error(context: &str, e: &DomainStoreError) -> StepError {
    let message = format!("{context}: {e}");
    if e.is_retryable() {
        StepError::retryable(message)
    } else {
        StepError::permanent(message)
    }
}

/// The task's input bound to the tenant its mission belongs to (`ctx.tenant`), so that
/// every action reading the input's `tenant` acts for that tenant alone.
///
/// A mission started through the HTTP API belongs to its key's tenant: its tasks act
/// for it, and an input `tenant` naming another is refused (permanently, naming both)
/// — else a tenant could import into, send from or read another's book by writing its
/// slug into a step's input. The operator's own missions (tenant
/// [`rex_core::protocol::DEFAULT_TENANT`]: the CLI, `rex dev`, the demo) serve every
/// tenant, so theirs pass unchanged: the input's `tenant`, else the configured one.
pub(crate) fn scoped_input(
    ctx: &TaskContext,
    mut input: serde_json::Value,
) -> Result<serde_json::Value, StepError> {
    if ctx.tenant == rex_core::protocol::DEFAULT_TENANT {
        return Ok(input);
    }
    let Some(obj) = input.as_object_mut() else {
        return Ok(input); // refused by the action's own `input::object`
    };
    match obj.get("tenant") {
        None | Some(serde_json::Value::Null) => {
            obj.insert("tenant".to_owned(), ctx.tenant.clone().into());
            Ok(input)
        }
        Some(serde_json::Value::String(named)) if *named == ctx.tenant => Ok(input),
        Some(named) => Err(StepError::permanent(format!(
            "input.tenant: {named} is not this mission's tenant \"{}\": a mission acts for \
             its own tenant only",
            ctx.tenant
        ))),
    }
}

/// The task's tenant: input `tenant` (a slug), else `default`; created on first use.
/// Agents pass their input through [`scoped_input`] first.
pub(crate) async fn tenant_id(
    store: &Store,
    input: &input::Obj,
    default: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StepError> {
    let slug = input::text(input, "input", "tenant")?.unwrap_or_else(|| default.to_owned());
    rex_domain_store::ensure_tenant(store.conn(), &slug, now)
        .await
        .map(|t| t.id)
        .map_err(|e| store_error("input.tenant", &e))
}

/// The span of one action: a child of the runtime's step span.
pub(crate) fn action_span(agent: &'static str, ctx: &TaskContext) -> tracing::Span {
    tracing::info_span!(
        "agent",
        otel.name = %format_args!("{agent}.{}", ctx.action),
        rex.agent = agent,
        rex.action = %ctx.action,
        rex.mission.id = %ctx.mission_id,
        rex.step.id = %ctx.step_id,
        rex.step.attempt = i64::from(ctx.attempt),
        rex.tenant = %ctx.tenant,
        // whose credentials the provider call used: tenant | environment | dry_run
        rex.credentials = tracing::field::Empty,
        // recorded by the agents that act on one lead: its CRM id and the ledger's
        // hash of the address, never the address itself
        rex.lead = tracing::field::Empty,
        rex.address_hash = tracing::field::Empty,
    )
}

/// The error for an action this agent does not have.
pub(crate) fn unknown_action(agent: &str, ctx: &TaskContext, known: &[&str]) -> StepError {
    StepError::permanent(format!(
        "agent {agent}: unknown action \"{}\" (known: {})",
        ctx.action,
        known.join(", ")
    ))
}

/// A stop requested through the task's cancel token (mission ended, worker shutting
/// down): retryable, for the shutdown case; the runtime never retries an ended mission.
pub(crate) fn check_cancel(ctx: &TaskContext, done: usize, total: usize) -> Result<(), StepError> {
    if ctx.cancel.is_cancelled() {
        Err(StepError::retryable(format!(
            "cancelled after {done} of {total} leads"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    fn ctx(tenant: &str) -> TaskContext {
        TaskContext {
            mission_id: "m".into(),
            step_id: "s".into(),
            attempt: 1,
            action: "import".into(),
            idempotency_key: "m:s:1".into(),
            tenant: tenant.into(),
            cancel: CancellationToken::new(),
        }
    }

    #[test]
    fn a_tenants_mission_acts_for_that_tenant() {
        let scoped = scoped_input(&ctx("acme"), json!({"leads": []})).unwrap();
        assert_eq!(scoped, json!({"leads": [], "tenant": "acme"}));
        let scoped = scoped_input(&ctx("acme"), json!({"tenant": null})).unwrap();
        assert_eq!(scoped, json!({"tenant": "acme"}));
        let named = json!({"tenant": "acme", "leads": [1]});
        assert_eq!(scoped_input(&ctx("acme"), named.clone()).unwrap(), named);
    }

    #[test]
    fn a_tenants_mission_cannot_name_another_tenant() {
        for other in [json!("globex"), json!("default"), json!(7), json!(["acme"])] {
            let err = scoped_input(&ctx("acme"), json!({"tenant": other})).unwrap_err();
            assert!(!err.retryable, "{other}");
            assert!(
                err.message.starts_with("input.tenant: ")
                    && err.message.contains("not this mission's tenant \"acme\""),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn the_operators_missions_act_for_the_tenant_they_name() {
        for input in [
            json!({"tenant": "globex"}),
            json!({"leads": []}),
            json!([1]),
        ] {
            assert_eq!(scoped_input(&ctx("default"), input.clone()).unwrap(), input);
        }
        // not an object: left for the action to refuse with its own message
        assert_eq!(scoped_input(&ctx("acme"), json!("x")).unwrap(), json!("x"));
    }
}
