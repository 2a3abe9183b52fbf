//! The command center's HTTP edge: pages and assets (CSP, caching), sign-in with the
//! session cookie (its flags), the CSRF token on changes, sign-out, and tenancy
//! through the cookie.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use rex_api::ApiConfig;
use serde_json::json;

use crate::fixtures::{HELLO, Resp, TestApi};

/// A request with the session cookie of `key`, and a CSRF token if given.
fn with_cookie(
    method: &str,
    path: &str,
    key: &str,
    csrf: Option<&str>,
    body: Option<&str>,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("cookie", format!("theme=dark; rex_session={key}"));
    if let Some(token) = csrf {
        req = req.header("x-csrf-token", token);
    }
    match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_owned())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

async fn sign_in(api: &TestApi, key: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::builder()
        .method("POST")
        .uri("/ui/sign-in")
        .header("content-type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    api.send(req.body(Body::from(format!("api_key={key}"))).unwrap())
        .await
}

async fn csrf_of(api: &TestApi, key: &str) -> String {
    let r = api
        .send(with_cookie("GET", "/ui/session", key, None, None))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["csrf_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pages_and_assets_carry_a_strict_csp_and_revalidate_by_etag() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    for path in [
        "/ui/",
        "/ui/agents",
        "/ui/domains",
        "/ui/campaigns",
        "/ui/campaigns/q1",
        "/ui/missions/abc",
        "/ui/sign-in",
    ] {
        let r = api.call("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let r = api.call("GET", "/ui/assets/js/app.js", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let etag = r.header("etag").unwrap().to_owned();
    let again = api
        .send(
            Request::get("/ui/assets/js/app.js")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let css = api.call("GET", "/ui/assets/app.css", None, None).await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let missing = api.call("GET", "/ui/assets/js/nope.js", None, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let escape = api
        .call("GET", "/ui/assets/../Cargo.toml", None, None)
        .await;
    assert_eq!(escape.status, StatusCode::NOT_FOUND);
    let home = api.call("GET", "/", None, None).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.header("location"), Some("/ui/"));
    // the API keeps its own, stricter policy
    let health = api.call("GET", "/healthz", None, None).await;
    assert_eq!(
        health.header("content-security-policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
    assert_eq!(health.header("cache-control"), Some("no-store"));
    api.cleanup().await;
}

#[tokio::test]
async fn signing_in_keeps_the_key_in_an_http_only_strict_session_cookie() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = sign_in(&api, &api.keys.a, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{r:?}");
    assert_eq!(r.header("location"), Some("/ui/"));
    let cookie = r.header("set-cookie").unwrap();
    assert_eq!(
        cookie,
        format!(
            "rex_session={}; Path=/; HttpOnly; SameSite=Strict",
            api.keys.a
        )
    );
    // Secure when the client came over TLS through a proxy
    let r = sign_in(&api, &api.keys.a, &[("x-forwarded-proto", "https")]).await;
    assert!(r.header("set-cookie").unwrap().ends_with("; Secure"));
    api.cleanup().await;

    let api = TestApi::embedded(ApiConfig {
        behind_tls: true,
        ..ApiConfig::default()
    })
    .await;
    let r = sign_in(&api, &api.keys.a, &[]).await;
    assert!(r.header("set-cookie").unwrap().ends_with("; Secure"));
    api.cleanup().await;
}

#[tokio::test]
async fn a_bad_key_a_key_without_read_or_a_cross_site_post_does_not_sign_in() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let r = sign_in(&api, &format!("rex_{}", "0".repeat(48)), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/ui/sign-in?error=invalid"));
    assert!(r.header("set-cookie").is_none());
    let r = sign_in(&api, "not a key", &[]).await;
    assert_eq!(r.header("location"), Some("/ui/sign-in?error=invalid"));
    let r = sign_in(&api, &api.keys.writer, &[]).await;
    assert_eq!(r.header("location"), Some("/ui/sign-in?error=scope"));
    assert!(r.header("set-cookie").is_none());
    let r = sign_in(&api, &api.keys.a, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.code(), "cross_site");
    let r = sign_in(
        &api,
        &api.keys.a,
        &[("origin", "https://evil.example"), ("host", "rex.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    api.cleanup().await;
}

#[tokio::test]
async fn the_session_cookie_reads_the_api_and_needs_its_csrf_token_to_change_anything() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let key = api.keys.a.clone();
    let session = api
        .send(with_cookie("GET", "/ui/session", &key, None, None))
        .await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["tenant"], "acme");
    assert_eq!(session.body["scopes"], json!(["read", "write", "admin"]));
    let token = session.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    // a bearer key needs no token, and gets none
    let bearer = api.call("GET", "/ui/session", Some(&key), None).await;
    assert_eq!(bearer.body["csrf_token"], json!(null));

    let list = api
        .send(with_cookie("GET", "/v1/missions", &key, None, None))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");

    let body = r#"{"domain": "mail.acme.example"}"#;
    let missing = api
        .send(with_cookie("POST", "/v1/domains", &key, None, Some(body)))
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{missing:?}");
    assert_eq!(missing.code(), "csrf_failed");
    assert_eq!(missing.body["field"], "x-csrf-token");
    let other = csrf_of(&api, &api.keys.b).await;
    let wrong = api
        .send(with_cookie(
            "POST",
            "/v1/domains",
            &key,
            Some(&other),
            Some(body),
        ))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let garbage = api
        .send(with_cookie(
            "POST",
            "/v1/domains",
            &key,
            Some("x"),
            Some(body),
        ))
        .await;
    assert_eq!(garbage.status, StatusCode::FORBIDDEN);
    let ok = api
        .send(with_cookie(
            "POST",
            "/v1/domains",
            &key,
            Some(&token),
            Some(body),
        ))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");
    // nothing was added by the refused attempts
    let domains = api.call("GET", "/v1/domains", Some(&key), None).await;
    assert_eq!(domains.body["items"].as_array().unwrap().len(), 1);

    let unknown = api
        .send(with_cookie(
            "GET",
            "/v1/missions",
            &format!("rex_{}", "1".repeat(48)),
            None,
            None,
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    api.cleanup().await;
}

#[tokio::test]
async fn signing_out_clears_the_cookie_and_needs_the_csrf_token() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let key = api.keys.a.clone();
    let refused = api
        .send(with_cookie("POST", "/ui/session/end", &key, None, None))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let token = csrf_of(&api, &key).await;
    let r = api
        .send(with_cookie(
            "POST",
            "/ui/session/end",
            &key,
            Some(&token),
            None,
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.header("set-cookie"),
        Some("rex_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    );
    api.cleanup().await;
}

#[tokio::test]
async fn through_the_cookie_another_tenants_mission_is_not_found() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(HELLO).await;
    let id = api
        .start(&api.keys.a.clone(), "hello", json!({"name": "Ada"}))
        .await;
    let b = api.keys.b.clone();
    for path in [
        format!("/v1/missions/{id}"),
        format!("/v1/missions/{id}/events"),
    ] {
        let r = api.send(with_cookie("GET", &path, &b, None, None)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {r:?}");
    }
    let token = csrf_of(&api, &b).await;
    let cancel = api
        .send(with_cookie(
            "POST",
            &format!("/v1/missions/{id}/cancel"),
            &b,
            Some(&token),
            None,
        ))
        .await;
    assert_eq!(cancel.status, StatusCode::NOT_FOUND);
    let mine = api
        .send(with_cookie(
            "GET",
            &format!("/v1/missions/{id}"),
            &api.keys.a.clone(),
            None,
            None,
        ))
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["tenant"], "acme");
    assert_eq!(mine.body["graph"].as_array().unwrap().len(), 3);
    assert_eq!(mine.body["graph"][1]["depends_on"], json!(["start"]));
    api.cleanup().await;
}
