//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! A copy is committed as `api/openapi.json` for clients and reviews; the test
//! `openapi_document_is_committed` fails when the two differ. Regenerate the copy with
//!
//! ```sh
//! REX_UPDATE_OPENAPI=1 cargo nextest run -p rex-api openapi_document_is_committed
//! ```

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ProblemBody};
use crate::model::*;
use crate::routes::webhooks::{RejectedEventBody, WebhookAck};
use crate::routes::{
    agents, audit, campaigns, definitions, domains, dry_run, events, leads, missions, ops, privacy,
    secrets, unsubscribe, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rex API",
        description = "Durable workflow missions (definitions, missions and their live events) and \
                       the lead-reactivation domain (sending domains, leads, the dry-run log). \
                       Authenticate with `Authorization: Bearer rex_…` (an API key of your tenant).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        definitions::create,
        definitions::validate,
        definitions::list,
        definitions::get,
        missions::start,
        missions::list,
        missions::get,
        missions::cancel,
        missions::retry,
        missions::signal,
        events::events,
        agents::list,
        secrets::put,
        secrets::list,
        secrets::delete,
        privacy::export,
        privacy::erase,
        audit::list,
        domains::list,
        domains::add,
        domains::pause,
        domains::resume,
        domains::add_mailbox,
        domains::pause_mailbox,
        domains::resume_mailbox,
        leads::import,
        leads::list,
        leads::get,
        dry_run::list,
        dry_run::get,
        campaigns::list,
        campaigns::report,
        unsubscribe::page,
        unsubscribe::one_click,
        ops::healthz,
        ops::readyz,
        ops::metrics,
        ops::openapi,
        webhooks::sendgrid,
        webhooks::twilio_status,
        webhooks::twilio_inbound,
        webhooks::calendly,
    ),
    components(schemas(
        ErrorBody,
        ProblemBody,
        DefinitionRequest,
        DefinitionSummary,
        DefinitionDetail,
        StoredDefinition,
        ValidDefinition,
        DefinitionList,
        StartRequest,
        StartedMission,
        MissionSummary,
        Progress,
        AttemptView,
        TimerView,
        GraphNode,
        MissionDetail,
        StepView,
        MissionPage,
        CancelRequest,
        RetryRequest,
        AgentList,
        AgentView,
        RecentView,
        SignalRequest,
        ActionOutcome,
        MissionEvent,
        Health,
        SecretRequest,
        SecretView,
        SecretList,
        LeadExportView,
        ErasureView,
        AuditEntry,
        AuditPage,
        DomainRequest,
        PauseRequest,
        MailboxRequest,
        Warmup,
        MailboxView,
        DomainView,
        DomainList,
        HealthThresholds,
        CampaignList,
        CampaignSummary,
        Funnel,
        MetricsView,
        RatesView,
        Significance,
        BreachView,
        VariantView,
        ExperimentView,
        TrendView,
        RecommendationView,
        CampaignReport,
        LeadImportRow,
        LeadImportRequest,
        RejectedRow,
        ImportResult,
        LeadView,
        LeadPage,
        CompanyView,
        LeadChange,
        SuppressionView,
        SuppressionState,
        LeadDetail,
        DryRunEntry,
        DryRunPage,
        WebhookAck,
        RejectedEventBody,
    )),
    modifiers(&BearerKeys, &CommonErrors, &UniqueOperationIds),
    tags(
        (name = "definitions", description = "workflow definitions, shared by the deployment"),
        (name = "missions", description = "the caller's tenant's missions"),
        (name = "agents", description = "the deployment's agents: queues, work in flight, error rates"),
        (name = "privacy", description = "the tenant's secrets, GDPR export and erasure of leads, the audit log; admin scope"),
        (name = "domains", description = "the caller's tenant's sending domains and mailboxes"),
        (name = "campaigns", description = "the caller's tenant's campaigns and their analytics"),
        (name = "leads", description = "the caller's tenant's leads: import, list, read"),
        (name = "dry-run", description = "what provider stand-ins would have sent: DRY RUN, not sent"),
        (name = "unsubscribe", description = "one-click unsubscribe (RFC 8058); the signed token is the credential"),
        (name = "operations", description = "health, readiness, metrics; no key needed"),
        (name = "webhooks", description = "provider events; authenticated by the provider's signature, not an API key"),
    )
)]
pub struct ApiDoc;

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rex_<48 hex digits>")
                    .description(Some(
                        "an API key of the tenant, with the scope the operation names",
                    ))
                    .build(),
            ),
        );
    }
}

/// The refusals any `/v1` operation may answer (authentication, rate limit, body and
/// media type checks, an unavailable database), documented on each so a client (or
/// schemathesis) finds every status it can meet.
struct CommonErrors;

const ANY_V1: [(&str, &str); 5] = [
    ("400", "malformed request: bad JSON, path or header"),
    ("401", "missing, unknown or revoked API key"),
    (
        "403",
        "the API key lacks the operation's scope; or, signed in with the session cookie, a change without its x-csrf-token",
    ),
    ("429", "over the key's rate limit; see Retry-After"),
    (
        "503",
        "the database or broker is unavailable; see Retry-After",
    ),
];
const WITH_BODY: [(&str, &str); 3] = [
    ("413", "body over the size limit, or JSON nested too deep"),
    ("415", "the body is not application/json"),
    ("422", "a field fails validation"),
];

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            // No API key, no rate limit, no JSON parsing of ours: only the body limit.
            if path.starts_with("/v1/webhooks/") {
                if let Some(op) = item.post.as_mut() {
                    add_errors(op, &WITH_BODY[..1]);
                }
                continue;
            }
            if let Some(op) = item.get.as_mut() {
                add_errors(op, &ANY_V1);
                add_errors(
                    op,
                    &[("404", "not found"), ("422", "a bad query parameter")],
                );
            }
            if let Some(op) = item.post.as_mut() {
                add_errors(op, &ANY_V1);
                add_errors(op, &WITH_BODY);
            }
            if let Some(op) = item.put.as_mut() {
                add_errors(op, &ANY_V1);
                add_errors(op, &WITH_BODY);
            }
            if let Some(op) = item.delete.as_mut() {
                add_errors(op, &ANY_V1);
                add_errors(op, &[("404", "not found")]);
            }
        }
    }
}

/// utoipa names an operation after its handler, and several handlers are called
/// `list` or `get`; OpenAPI wants every `operationId` unique (code generators name
/// methods after them). A repeated one gets the path's fixed segments after `/v1`:
/// `list` of `/v1/missions` → `list_missions`, `get` of `/v1/domains/{id}/mailboxes`
/// → `get_domains_mailboxes`.
struct UniqueOperationIds;

impl Modify for UniqueOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        for item in openapi.paths.paths.values() {
            for op in operations(item) {
                if let Some(id) = &op.operation_id {
                    *seen.entry(id.clone()).or_default() += 1;
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let suffix = path
                .split('/')
                .filter(|s| !s.is_empty() && *s != "v1" && !s.starts_with('{'))
                .collect::<Vec<_>>()
                .join("_");
            for op in operations_mut(item) {
                if let Some(id) = &mut op.operation_id
                    && seen.get(id.as_str()).is_some_and(|n| *n > 1)
                    && !suffix.is_empty()
                {
                    *id = format!("{id}_{}", suffix.replace(['-', '.'], "_"));
                }
            }
        }
    }
}

fn operations(item: &utoipa::openapi::PathItem) -> impl Iterator<Item = &Operation> {
    [&item.get, &item.post, &item.put, &item.delete, &item.patch]
        .into_iter()
        .flatten()
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

fn add_errors(op: &mut Operation, errors: &[(&str, &str)]) {
    for (status, description) in errors {
        op.responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build(),
                )
            });
    }
}

/// The document as served at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The committed form: pretty JSON with a trailing newline.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}
