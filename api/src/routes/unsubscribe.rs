//! One-click unsubscribe (RFC 8058), outside `/v1` and without an API key: the
//! `List-Unsubscribe` URL of every email is `<REX_UNSUBSCRIBE_URL>/<token>`, the token
//! signed by the agents (`rex_domain::unsubscribe`).
//!
//! `GET /u/{token}` serves a small page with one button (a form posting back to the
//! same URL: no script, no style, no external asset, so the API's `default-src
//! 'none'` CSP holds). `POST /u/{token}` with the form body `List-Unsubscribe=One-Click`
//! (what mailbox providers send) puts the address of the message's lead on the tenant's
//! suppression ledger (reason `unsubscribe`) and answers 200 with an empty body; again
//! is the same (the ledger is idempotent). A token whose signature fails, or that names
//! no message, answers 404 and stores nothing.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::{NewSuppression, Suppressed};
use rex_store::StoreError;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::ApiPath;
use crate::state::ApiState;
use crate::tenancy;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>Unsubscribe</title></head>
<body>
<h1>Unsubscribe</h1>
<p>Press the button to stop receiving these emails. You will not be emailed again from this sender.</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
</body>
</html>
"#;

const INVALID: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="robots" content="noindex"><title>Link not valid</title></head>
<body><h1>This unsubscribe link is not valid</h1><p>Reply to the email you received and ask to be removed instead.</p></body>
</html>
"#;

fn invalid_token() -> ApiError {
    ApiError::not_found("this unsubscribe link is not valid").at("token")
}

/// The tenant and message a token names, if its signature holds.
fn verify(state: &ApiState, token: &str) -> Option<(Uuid, String)> {
    rex_domain::unsubscribe::verify(state.config.unsubscribe_secret.expose(), token).ok()
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Whether the body is RFC 8058's `List-Unsubscribe=One-Click`, as a urlencoded form
/// or a multipart one (both are allowed senders' choices).
pub(crate) fn is_one_click(content_type: &str, body: &[u8]) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    match mime.as_str() {
        "multipart/form-data" => {
            text.contains("name=\"List-Unsubscribe\"")
                && text
                    .split("name=\"List-Unsubscribe\"")
                    .nth(1)
                    .is_some_and(|rest| rest.trim_start().lines().any(|l| l.trim() == "One-Click"))
        }
        // a form without a content type is read as urlencoded, as browsers send it
        "application/x-www-form-urlencoded" | "" => text.trim().split('&').any(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            form_decode(k).as_deref() == Some("List-Unsubscribe")
                && form_decode(v).as_deref() == Some("One-Click")
        }),
        _ => false,
    }
}

/// The unsubscribe page
#[utoipa::path(
    get, path = "/u/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "the signed token of the email's List-Unsubscribe URL")),
    responses(
        (status = 200, description = "a page with one button", content_type = "text/html"),
        (status = 404, description = "not a valid link", content_type = "text/html"),
    ),
)]
#[tracing::instrument(name = "unsubscribe.page", skip_all)]
pub(crate) async fn page(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
) -> Response {
    match verify(&state, &token) {
        Some(_) => Html(PAGE).into_response(),
        None => (StatusCode::NOT_FOUND, Html(INVALID)).into_response(),
    }
}

/// One-click unsubscribe (RFC 8058)
///
/// With the body `List-Unsubscribe=One-Click`: the message's recipient is suppressed
/// (reason `unsubscribe`); 200 with an empty body, every time.
#[utoipa::path(
    post, path = "/u/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "the signed token of the email's List-Unsubscribe URL")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", example = "List-Unsubscribe=One-Click"),
    responses(
        (status = 200, description = "unsubscribed (also when it already was); empty body"),
        (status = 400, description = "the body is not List-Unsubscribe=One-Click", body = crate::error::ErrorBody),
        (status = 404, description = "not a valid link; nothing stored", body = crate::error::ErrorBody),
    ),
)]
#[tracing::instrument(name = "unsubscribe.one_click", skip_all, fields(tenant, outcome))]
pub(crate) async fn one_click(
    State(state): State<ApiState>,
    ApiPath(token): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, message_id) = verify(&state, &token).ok_or_else(invalid_token)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_one_click(content_type, &body) {
        return Err(ApiError::bad_request(
            "invalid_body",
            "the body must be the form List-Unsubscribe=One-Click (RFC 8058)",
        )
        .at("List-Unsubscribe"));
    }
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(tenant));
    let slug = rex_domain_store::get_tenant(state.store.conn(), tenant)
        .await?
        .ok_or_else(invalid_token)?
        .slug;
    let now = Utc::now();
    let txn = tenancy::begin(&state.store, &slug).await?;
    let message = rex_domain_store::email_by_step_key(&txn, tenant, &message_id)
        .await?
        .ok_or_else(invalid_token)?;
    let lead = rex_domain_store::get_lead(&txn, tenant, message.lead_id).await?;
    let outcome = match lead.and_then(|l| l.email) {
        // erased since: nothing left to suppress, and nothing will be sent to it
        None => "no_address",
        Some(address) => {
            let entry = NewSuppression {
                tenant_id: tenant,
                channel: Channel::Email,
                address,
                reason: SuppressionReason::Unsubscribe,
                source_event: format!("unsubscribe:{message_id}"),
                at: now,
            };
            match rex_domain_store::suppress(&txn, &entry).await? {
                Suppressed::Existing(_) => "already",
                Suppressed::New(_) | Suppressed::Reinstated(_) => {
                    rex_observability::metrics().suppression("unsubscribe");
                    "suppressed"
                }
            }
        }
    };
    txn.commit().await.map_err(StoreError::from)?;
    span.record("outcome", outcome);
    tracing::info!(outcome, "one-click unsubscribe");
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_click_form_is_accepted() {
        let form = "application/x-www-form-urlencoded";
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(form, b"List-Unsubscribe=One%2DClick"));
        assert!(is_one_click("", b"List-Unsubscribe=One-Click\r\n"));
        assert!(!is_one_click(form, b"List-Unsubscribe=Maybe"));
        assert!(!is_one_click(form, b""));
        assert!(!is_one_click(
            "application/json",
            b"List-Unsubscribe=One-Click"
        ));
        assert!(!is_one_click(form, b"List-Unsubscribe=%ZZ"));
        let multipart = "--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--\r\n";
        assert!(is_one_click(
            "multipart/form-data; boundary=x",
            multipart.as_bytes()
        ));
    }
}
