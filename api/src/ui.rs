//! The command center's HTTP edge: the pages and assets of `rex-web` under `/ui/`,
//! sign-in and sign-out, and the session's description for the page scripts.
//!
//! The pages hold no data: their scripts call the tenant-scoped `/v1` API with the
//! session cookie ([`crate::auth::session`]), so they show exactly what the tenant's
//! key may read, and nothing of another tenant. Pages and assets carry a CSP that
//! allows scripts, styles and connections to this origin only (no inline script), and
//! an `ETag` with `Cache-Control: no-cache` (revalidated, answered 304 when unchanged).

use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rex_web::Asset;
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Scope, principal_for_key, session};
use crate::error::ApiError;
use crate::state::ApiState;

/// The pages' policy: this origin only, no inline script or style element.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

fn send(asset: Asset, etag: Option<&'static str>, headers: &HeaderMap) -> Response {
    let fresh = etag.is_some_and(|tag| {
        headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(header::ETAG, tag);
    }
    response
}

/// `GET /ui/` and every page path under it: the page shell.
pub(crate) async fn page(headers: HeaderMap) -> Response {
    send(
        rex_web::APP_SHELL,
        rex_web::cached_etag("index.html"),
        &headers,
    )
}

/// `GET /ui/missions/{id}` and `/ui/campaigns/{name}`: the same shell.
pub(crate) async fn page_with(_: Path<String>, headers: HeaderMap) -> Response {
    page(headers).await
}

/// `GET /ui/sign-in`.
pub(crate) async fn sign_in_page(headers: HeaderMap) -> Response {
    send(
        rex_web::SIGN_IN,
        rex_web::cached_etag("sign-in.html"),
        &headers,
    )
}

/// `GET /ui/assets/{*path}`.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match rex_web::asset(&path) {
        Some(asset) => send(asset, rex_web::cached_etag(&path), &headers),
        None => ApiError::not_found(format!("no asset {path:?}")).into_response(),
    }
}

/// `GET /` and `GET /ui`: to the missions page.
pub(crate) async fn home() -> Redirect {
    Redirect::to("/ui/")
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    api_key: String,
}

/// Whether a form post comes from a page of this origin (a sign-in forced from another
/// site would sign the victim in as the attacker): browsers say so in
/// `Sec-Fetch-Site`, older ones in `Origin`, compared with `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// `POST /ui/sign-in` (a form with `api_key`): checks the key as the API does and
/// keeps it in the session cookie; then to the missions page (303), or back to the
/// sign-in page with the reason.
#[tracing::instrument(name = "ui.sign_in", skip_all)]
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "sign in from this server's own sign-in page",
        ));
    }
    let key = form.api_key.trim();
    let Some(principal) = principal_for_key(&state, key).await? else {
        tracing::info!("sign-in refused: unknown key");
        return Ok(Redirect::to("/ui/sign-in?error=invalid").into_response());
    };
    if principal.require(Scope::Read).is_err() {
        return Ok(Redirect::to("/ui/sign-in?error=scope").into_response());
    }
    tracing::info!(rex.api_key = %principal.key_id, rex.tenant = %principal.tenant, "signed in");
    let secure = session::over_tls(&headers, state.config.behind_tls);
    let mut response = Redirect::to("/ui/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(key, secure)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// What the page scripts learn of their session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    /// The tenant's slug: every page shows this tenant's data only.
    pub tenant: String,
    pub scopes: Vec<Scope>,
    /// Send as `X-CSRF-Token` with every request that changes something; null when
    /// the request was not made with the session cookie (a bearer key needs none).
    pub csrf_token: Option<String>,
}

/// `GET /ui/session` (authenticated): the tenant, the scopes and the CSRF token.
#[tracing::instrument(name = "ui.session", skip_all)]
pub(crate) async fn describe(principal: Principal, headers: HeaderMap) -> Json<SessionView> {
    let by_cookie = headers.get(header::AUTHORIZATION).is_none();
    Json(SessionView {
        tenant: principal.tenant,
        scopes: principal.scopes,
        csrf_token: session::cookie_key(&headers)
            .filter(|_| by_cookie)
            .map(session::csrf_token),
    })
}

/// `POST /ui/session/end` (authenticated, with the CSRF token): clears the cookie.
#[tracing::instrument(name = "ui.sign_out", skip_all)]
pub(crate) async fn sign_out(
    State(state): State<ApiState>,
    principal: Principal,
    headers: HeaderMap,
) -> Response {
    tracing::info!(rex.api_key = %principal.key_id, "signed out");
    let secure = session::over_tls(&headers, state.config.behind_tls);
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie(secure)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_accepts_same_origin_posts_only() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&h(&[])));
        assert!(same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&h(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_origin(&h(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
    }
}
