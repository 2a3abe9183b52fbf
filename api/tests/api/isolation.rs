use axum::http::StatusCode;
use rex_api::{ApiConfig, revoke_api_key};
use serde_json::json;

use crate::fixtures::{TestApi, WAITER};

#[tokio::test]
async fn another_tenants_mission_is_not_found_for_every_verb() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(WAITER).await;
    let (a, b) = (api.keys.a.clone(), api.keys.b.clone());
    let theirs = api.start(&b, "waiter", json!({})).await;
    let ours = api.start(&a, "waiter", json!({})).await;

    let matrix = [
        ("GET", format!("/v1/missions/{theirs}"), None),
        ("GET", format!("/v1/missions/{theirs}/events"), None),
        (
            "POST",
            format!("/v1/missions/{theirs}/cancel"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/missions/{theirs}/retry"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/missions/{theirs}/signals"),
            Some(json!({"name": "lead.replied"})),
        ),
    ];
    for (method, path, body) in matrix {
        let r = api.call(method, &path, Some(&a), body.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}: {r:?}"
        );
        // exactly the answer of a mission that does not exist
        let missing = path.replace(&theirs.to_string(), &uuid::Uuid::now_v7().to_string());
        let m = api.call(method, &missing, Some(&a), body).await;
        assert_eq!(m.status, StatusCode::NOT_FOUND, "{method} {missing}");
    }
    let r = api.call("GET", "/v1/missions", Some(&a), None).await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ours.to_string()]);

    // nothing happened to it: globex still sees it running, unsignalled
    let r = api
        .call("GET", &format!("/v1/missions/{theirs}"), Some(&b), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], json!("running"));
    let r = api.call("GET", "/v1/missions", Some(&b), None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    api.cleanup().await;
}

#[tokio::test]
async fn keys_need_the_scope_of_what_they_do() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    api.push(WAITER).await;
    let start = json!({"definition": "waiter"});
    let id = api.start(&api.keys.a, "waiter", json!({})).await;

    let r = api
        .call(
            "POST",
            "/v1/missions",
            Some(&api.keys.reader),
            Some(start.clone()),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = api
        .call(
            "GET",
            &format!("/v1/missions/{id}"),
            Some(&api.keys.reader),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = api
        .call(
            "GET",
            &format!("/v1/missions/{id}"),
            Some(&api.keys.writer),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = api
        .call("POST", "/v1/missions", Some(&api.keys.writer), Some(start))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    // a scope is checked before the body is read
    let r = api
        .call(
            "POST",
            "/v1/definitions",
            Some(&api.keys.writer),
            Some(json!({"nonsense": 1})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    api.cleanup().await;
}

#[tokio::test]
async fn missing_unknown_and_revoked_keys_are_unauthorized() {
    let api = TestApi::embedded(ApiConfig::default()).await;
    let forged = format!("rex_{}", "0".repeat(48));
    for key in [None, Some("not-a-key"), Some(forged.as_str())] {
        let r = api.call("GET", "/v1/missions", key, None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{key:?}"
        );
    }
    let created = rex_api::create_api_key(api.db.store(), "acme", "temp", &[rex_api::Scope::Read])
        .await
        .unwrap();
    let r = api
        .call("GET", "/v1/missions", Some(&created.key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        revoke_api_key(api.db.store(), "acme", created.id)
            .await
            .unwrap()
    );
    assert!(
        !revoke_api_key(api.db.store(), "acme", created.id)
            .await
            .unwrap()
    );
    // the API remembers valid keys for `key_cache_ttl`; this process forgets at once
    api.state.forget_key(created.id);
    let r = api
        .call("GET", "/v1/missions", Some(&created.key), None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let listed = rex_api::list_api_keys(api.db.store(), "acme")
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.id == created.id && k.revoked_at.is_some())
    );
    // a key's Debug never shows the secret
    assert!(!format!("{created:?}").contains(&created.key));
    api.cleanup().await;
}

#[tokio::test]
async fn a_key_revoked_elsewhere_stops_working_when_its_cache_entry_expires() {
    let ttl = std::time::Duration::from_millis(300);
    let api = TestApi::embedded(ApiConfig {
        key_cache_ttl: ttl,
        ..ApiConfig::default()
    })
    .await;
    let created = rex_api::create_api_key(api.db.store(), "acme", "temp", &[rex_api::Scope::Read])
        .await
        .unwrap();
    let call = || api.call("GET", "/v1/missions", Some(&created.key), None);
    assert_eq!(call().await.status, StatusCode::OK);
    // revoked by another process (the CLI): this API still remembers the key…
    assert!(
        revoke_api_key(api.db.store(), "acme", created.id)
            .await
            .unwrap()
    );
    assert_eq!(call().await.status, StatusCode::OK);
    // …until the entry expires; then the database says no
    tokio::time::sleep(ttl + std::time::Duration::from_millis(50)).await;
    assert_eq!(call().await.status, StatusCode::UNAUTHORIZED);
    api.cleanup().await;
}
