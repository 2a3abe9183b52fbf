//! Who is calling: `Authorization: Bearer rex_…` → the key's tenant and scopes; or,
//! from the command center in a browser, the same key kept in the session cookie
//! ([`session`]), with a CSRF token required on every request that changes something.
//!
//! The middleware answers 401 for a missing, malformed, unknown or revoked key (the
//! same message for each, so a caller learns nothing about which keys exist), applies
//! the key's rate limit (429), and leaves a [`Principal`] in the request for the
//! handlers, which check the scope they need (403). The key itself is never logged:
//! spans record the key's id only. Valid keys are remembered for a few seconds
//! ([`cache`]), so a revocation takes that long to reach a running API.

mod cache;
mod entity;
mod keys;
pub mod session;

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) use cache::KeyCache;
pub use keys::{CreatedKey, KeyInfo, create_api_key, list_api_keys, revoke_api_key};

use crate::error::ApiError;
use crate::state::ApiState;

/// What a key may do. `read` reads missions and definitions; `write` starts and
/// changes missions; `admin` stores definitions (shared by every tenant of the
/// deployment). Scopes do not imply one another: give a key each it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub(crate) fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.trim() {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(KeyError::UnknownScope(other.to_owned())),
        }
    }
}

/// Why a key could not be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("tenant {0:?} must be 1 to 63 characters of a-z, 0-9 and -")]
    InvalidTenant(String),
    #[error("unknown scope {0:?} (known: read, write, admin)")]
    UnknownScope(String),
    #[error("a key needs at least one scope (read, write, admin)")]
    NoScopes,
    #[error(transparent)]
    Store(#[from] rex_store::StoreError),
    /// The audit entry of the change could not be written (the change was not made).
    #[error(transparent)]
    Audit(#[from] rex_domain_store::DomainStoreError),
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key_id: Uuid,
    pub tenant_id: Uuid,
    /// The tenant's slug: what `missions.tenant_id` holds.
    pub tenant: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this API key lacks the {scope} scope"),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing API key"))
    }
}

const BAD_KEY: &str = "missing or invalid API key: send `authorization: Bearer rex_…`";

/// The principal of the key `presented` (a cached lookup), or `None` for a key that is
/// malformed, unknown or revoked.
pub(crate) async fn principal_for_key(
    state: &ApiState,
    presented: &str,
) -> Result<Option<Principal>, ApiError> {
    if !keys::looks_like_key(presented) {
        return Ok(None);
    }
    let hash = keys::hash_key(presented);
    let now = Instant::now();
    if let Some(principal) = state.keys.get(&hash, now) {
        return Ok(Some(principal));
    }
    let Some((key, tenant)) = keys::find_key(&state.store, &hash).await? else {
        return Ok(None);
    };
    let principal = Principal {
        key_id: key.id,
        tenant_id: tenant.id,
        tenant: tenant.slug,
        scopes: key
            .scopes
            .split(',')
            .filter_map(|s| s.parse().ok())
            .collect(),
    };
    state.keys.put(hash, principal.clone(), now);
    Ok(Some(principal))
}

/// The authentication and rate-limit middleware of `/v1` (and of the command center's
/// session endpoints). A bearer key wins over the session cookie; a request
/// authenticated by the cookie that is not GET, HEAD or OPTIONS needs its CSRF token
/// (403 `csrf_failed` without it).
pub(crate) async fn authenticate(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let bearer = req.headers().get(header::AUTHORIZATION).map(|v| {
        v.to_str().ok().and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
    });
    let (presented, by_cookie) = match bearer {
        Some(token) => (token.ok_or_else(|| ApiError::unauthorized(BAD_KEY))?, false),
        None => (
            session::cookie_key(req.headers()).ok_or_else(|| ApiError::unauthorized(BAD_KEY))?,
            true,
        ),
    };
    let principal = principal_for_key(&state, presented)
        .await?
        .ok_or_else(|| ApiError::unauthorized(BAD_KEY))?;
    if by_cookie
        && !session::is_safe(req.method())
        && !session::csrf_ok(presented, req.headers().get(session::CSRF_HEADER))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "a request signed in by the session cookie must carry its x-csrf-token",
        )
        .at("x-csrf-token"));
    }
    if !state.limiter.knows(principal.key_id)
        && let Err(e) = state.limiter.load(&state.store, principal.key_id).await
    {
        // limited from a full bucket, by this replica alone, until the next sync
        tracing::warn!(error = %e, "reading the key's shared rate-limit bucket failed");
    }
    if let Err(wait) = state
        .limiter
        .check(principal.key_id, crate::ratelimit::wall_clock())
    {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "more than {} requests per minute with this API key",
                state.config.rate_limit_per_minute
            ),
        );
        e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Err(e);
    }
    let span = tracing::Span::current();
    span.record("rex.api_key", tracing::field::display(principal.key_id));
    span.record("rex.tenant", tracing::field::display(&principal.tenant));
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
