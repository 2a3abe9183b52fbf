//! The HTTP API of Rex: tenants call it with their API keys to store workflow
//! definitions and to start, follow and steer their missions.
//!
//! It owns the HTTP edge only: authentication ([`auth`]: hashed keys per tenant, with
//! scopes), rate limits, request validation, the error shape, security headers and
//! the OpenAPI document. Every decision about missions is the engine's (`rex-engine`),
//! every query the store's (`rex-store`, `rex-domain-store`); nothing here changes a
//! mission except through [`rex_engine::Engine`]. It does not depend on the agents nor
//! on the `rex` binary, which serves it with [`serve`].
//!
//! Endpoints (see `api/openapi.json`): `/v1/definitions` (create, `validate`, list,
//! `{name}/{version}`), `/v1/missions` (start with `Idempotency-Key`, list with filters
//! and cursor, get with steps, `cancel`, `retry`, `signals`, `events` as SSE),
//! `/v1/agents` (queues and work per agent), `/v1/domains` and `/v1/mailboxes`
//! (sending domains and mailboxes with health and warmup: list, add, pause, resume),
//! `/v1/leads` (`import` from CSV or JSON with a report of rejected rows, list, get with
//! history and suppression state; `{id}/export` and `{id}/erase` for GDPR access and
//! erasure), `/v1/dry-run` (what the provider stand-ins would have sent, labelled as
//! such), `/v1/secrets` (the tenant's provider credentials, encrypted, never returned),
//! `/v1/audit`, `/v1/campaigns` (the tenant's campaigns and `{name}/report`: funnel,
//! A/B variants with significance, trends, recommendations), `/v1/webhooks/{tenant}/…`
//! (SendGrid, Twilio, Calendly: signed by the provider, handed to the broker's inbox
//! queue, see `routes::webhooks`), and without a key `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json` and the one-click unsubscribe `/u/{token}` (its signed token is the
//! credential).
//!
//! The command center ([`ui`]): pages and assets of `rex-web` under `/ui/`, signed in
//! with a tenant's API key kept in an HttpOnly, SameSite=Strict session cookie that
//! `/v1` accepts as well as `Authorization: Bearer` (with a CSRF token on every change;
//! see [`auth::session`]).
//!
//! Tenancy: a mission belongs to the tenant of the key that started it
//! (`missions.tenant_id`, the tenant's slug); every mission query names it, and another
//! tenant's mission answers 404 exactly as a missing one. Definitions are shared by
//! the deployment: storing one takes the `admin` scope.
//!
//! On PostgreSQL, tenant reads also run under row-level security (migrations 000032 for
//! missions and 000034 for the domain tables; see `tenancy`), so a query that forgot
//! its filter still sees one tenant only.
//!
//! The committed `api/openapi.json` is checked by a test; regenerate it with
//! `REX_UPDATE_OPENAPI=1 cargo nextest run -p rex-api openapi_document_is_committed`.
//!
//! Tests: `cargo nextest run -p rex-api`. Most go through `Router::oneshot` on SQLite
//! and the in-process broker; `production`, `rls` and the PostgreSQL catalogue of bad
//! requests need PostgreSQL on 127.0.0.1:5432 (`REX_TEST_DATABASE_URL`) and RabbitMQ on
//! 127.0.0.1:5672 (`REX_TEST_AMQP_URL`), and fail when they are down.

pub mod auth;
mod config;
mod error;
mod json;
mod middleware;
pub mod model;
pub mod openapi;
mod ratelimit;
mod routes;
mod state;
mod tenancy;
pub mod ui;
pub mod webhooks;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use auth::{
    CreatedKey, KeyError, KeyInfo, Principal, Scope, create_api_key, list_api_keys, revoke_api_key,
};
pub use config::ApiConfig;
pub use error::{ApiError, ErrorBody, ProblemBody};
pub use middleware::REQUEST_ID;
pub use routes::missions::IDEMPOTENCY_KEY;
pub use state::ApiState;
pub use webhooks::InboxEvent;
pub use webhooks::secrets::{
    EnvWebhookSecrets, NoWebhookSecrets, SecretsUnavailable, WebhookProvider, WebhookSecrets,
};
pub use webhooks::tenant_keys::TenantWebhookSecrets;

/// The whole API as an axum router (tests drive it with `tower::ServiceExt::oneshot`).
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route(
            "/v1/definitions",
            post(routes::definitions::create).get(routes::definitions::list),
        )
        .route(
            "/v1/definitions/validate",
            post(routes::definitions::validate),
        )
        .route(
            "/v1/definitions/{name}/{version}",
            get(routes::definitions::get),
        )
        .route(
            "/v1/missions",
            post(routes::missions::start).get(routes::missions::list),
        )
        .route("/v1/missions/{id}", get(routes::missions::get))
        .route("/v1/missions/{id}/cancel", post(routes::missions::cancel))
        .route("/v1/missions/{id}/retry", post(routes::missions::retry))
        .route("/v1/missions/{id}/signals", post(routes::missions::signal))
        .route("/v1/missions/{id}/events", get(routes::events::events))
        .route("/v1/agents", get(routes::agents::list))
        .route("/v1/secrets", get(routes::secrets::list))
        .route(
            "/v1/secrets/{name}",
            put(routes::secrets::put).delete(routes::secrets::delete),
        )
        .route("/v1/leads/{id}/export", get(routes::privacy::export))
        .route("/v1/leads/{id}/erase", post(routes::privacy::erase))
        .route("/v1/audit", get(routes::audit::list))
        .route(
            "/v1/domains",
            get(routes::domains::list).post(routes::domains::add),
        )
        .route("/v1/domains/{id}/pause", post(routes::domains::pause))
        .route("/v1/domains/{id}/resume", post(routes::domains::resume))
        .route(
            "/v1/domains/{id}/mailboxes",
            post(routes::domains::add_mailbox),
        )
        .route(
            "/v1/mailboxes/{id}/pause",
            post(routes::domains::pause_mailbox),
        )
        .route(
            "/v1/mailboxes/{id}/resume",
            post(routes::domains::resume_mailbox),
        )
        .route("/v1/leads", get(routes::leads::list))
        .route("/v1/leads/import", post(routes::leads::import))
        .route("/v1/leads/{id}", get(routes::leads::get))
        .route("/v1/dry-run", get(routes::dry_run::list))
        .route("/v1/dry-run/{id}", get(routes::dry_run::get))
        .route("/v1/campaigns", get(routes::campaigns::list))
        .route(
            "/v1/campaigns/{name}/report",
            get(routes::campaigns::report),
        )
        // the command center's session, authenticated like the API
        .route("/ui/session", get(ui::describe))
        .route("/ui/session/end", post(ui::sign_out))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    // The command center's pages and assets (no data in them) and its sign-in.
    let pages = Router::new()
        .route("/", get(ui::home))
        .route("/ui", get(ui::home))
        .route("/ui/", get(ui::page))
        .route("/ui/agents", get(ui::page))
        .route("/ui/domains", get(ui::page))
        .route("/ui/campaigns", get(ui::page))
        .route("/ui/campaigns/{name}", get(ui::page_with))
        .route("/ui/missions/{id}", get(ui::page_with))
        .route("/ui/sign-in", get(ui::sign_in_page).post(ui::sign_in))
        .route("/ui/assets/{*path}", get(ui::asset));
    // Authenticated by the provider's signature, not an API key (`routes::webhooks`).
    let hooks = Router::new()
        .route(
            "/v1/webhooks/{tenant}/sendgrid",
            post(routes::webhooks::sendgrid),
        )
        .route(
            "/v1/webhooks/{tenant}/twilio/status",
            post(routes::webhooks::twilio_status),
        )
        .route(
            "/v1/webhooks/{tenant}/twilio/inbound",
            post(routes::webhooks::twilio_inbound),
        )
        .route(
            "/v1/webhooks/{tenant}/calendly",
            post(routes::webhooks::calendly),
        );
    let ops = Router::new()
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/openapi.json", get(routes::ops::openapi))
        // one-click unsubscribe: the token is the credential, no API key
        .route(
            "/u/{token}",
            get(routes::unsubscribe::page).post(routes::unsubscribe::one_click),
        );
    let mut app = v1
        .merge(pages)
        .merge(hooks)
        .merge(ops)
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(CatchPanicLayer::custom(middleware::panicked));
    if let Some(cors) = cors(&state.config.cors_origins) {
        app = app.layer(cors);
    }
    app.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::request_context,
    ))
    .with_state(state)
}

/// CORS for the configured origins; `None` (no CORS headers) when there are none.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(IDEMPOTENCY_KEY),
                REQUEST_ID,
            ])
            .expose_headers([REQUEST_ID, header::RETRY_AFTER, header::LOCATION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Serves the API on `addr` until `shutdown` is cancelled; then live event streams
/// end, requests in flight finish, and it returns.
pub async fn serve(
    addr: SocketAddr,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_on(listener, state, shutdown).await
}

/// [`serve`] on a listener bound by the caller (port 0 in tests).
pub async fn serve_on(
    listener: TcpListener,
    mut state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    state.shutdown = shutdown.child_token();
    let sync = state.limiter.clone().spawn_sync(
        state.store.clone(),
        state.config.rate_limit_sync,
        state.shutdown.clone(),
    );
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "api listening on http://{addr}");
    }
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Some(sync) = sync {
        // its last pass sends what this process let through
        let _ = sync.await;
    }
    served
}
