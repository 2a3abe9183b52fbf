//! The browser's session: the command center signs in with a tenant API key, which the
//! server keeps in a cookie (`rex_session`: `HttpOnly`, `SameSite=Strict`, `Path=/`,
//! `Secure` when the request came over TLS), so page scripts never hold the key.
//!
//! A cookie travels with every request the browser makes to the origin, so a request
//! authenticated by it that changes something (any method but GET, HEAD, OPTIONS) must
//! also carry `X-CSRF-Token`: the HMAC-SHA256 of a fixed label under the session's key.
//! Only a page of the origin can read it (from `GET /ui/session`, same-origin only);
//! another site can neither compute it nor read it. It needs no server state, so every
//! replica of `rex api` accepts it. `SameSite=Strict` is a second wall, not the only one.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE: &str = "rex_session";
/// The request header carrying the CSRF token.
pub const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
const CSRF_LABEL: &[u8] = b"rex command center csrf v1";

/// The session key (an API key) from the request's cookies, if any.
pub(crate) fn cookie_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// The CSRF token of the session whose key is `key` (hex).
pub fn csrf_token(key: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        // HMAC takes keys of any length; unreachable
        return String::new();
    };
    mac.update(CSRF_LABEL);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token (compared in constant time).
pub(crate) fn csrf_ok(key: &str, presented: Option<&HeaderValue>) -> bool {
    let Some(presented) = presented.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let expected = csrf_token(key);
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Methods that change nothing, and so need no CSRF token.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the client reached us over TLS: configured (`behind_tls`), or said by a
/// terminating proxy (`X-Forwarded-Proto: https`). It only ever adds `Secure`.
pub(crate) fn over_tls(headers: &HeaderMap, behind_tls: bool) -> bool {
    behind_tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that starts a session. No `Max-Age`: a session cookie,
/// gone when the browser closes.
pub(crate) fn set_cookie(key: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends a session.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_key_is_found_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; rex_session=rex_abc ; b=2"),
        );
        assert_eq!(cookie_key(&h), Some("rex_abc"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("rex_session=k"));
        assert_eq!(cookie_key(&h), Some("k"));
        assert_eq!(cookie_key(&HeaderMap::new()), None);
    }

    #[test]
    fn a_csrf_token_belongs_to_its_session_only() {
        let t = csrf_token("rex_one");
        assert_eq!(t.len(), 64);
        assert!(csrf_ok(
            "rex_one",
            Some(&HeaderValue::from_str(&t).unwrap())
        ));
        assert!(!csrf_ok(
            "rex_two",
            Some(&HeaderValue::from_str(&t).unwrap())
        ));
        assert!(!csrf_ok("rex_one", Some(&HeaderValue::from_static("00"))));
        assert!(!csrf_ok("rex_one", None));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let c = set_cookie("rex_k", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(set_cookie("rex_k", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let mut h = HeaderMap::new();
        assert!(!over_tls(&h, false));
        assert!(over_tls(&h, true));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(over_tls(&h, false));
    }
}
