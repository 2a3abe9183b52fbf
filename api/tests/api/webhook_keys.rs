//! Each tenant's own webhook keys (stored encrypted with `/v1/secrets`) verify its
//! webhooks; a tenant that stored none is verified with the deployment's keys; a key
//! changed through the API is used at once.

use std::panic::AssertUnwindSafe;

use axum::http::StatusCode;
use futures::FutureExt;
use rex_api::{EnvWebhookSecrets, TenantWebhookSecrets};
use serde_json::json;

use crate::fixtures::TestApi;
use crate::webhooks::{
    config, now, post, public_key, sendgrid_batch, sendgrid_headers, signing_key,
};

const JSON: &str = "application/json";

/// Tenant keys first, the deployment's SendGrid key (`signing_key(1)`) otherwise.
fn with_tenant_keys(mut api: TestApi) -> TestApi {
    crate::secrets::with_secrets(&mut api);
    let ring = api.state.keyring.clone().expect("secrets enabled");
    let deployment = EnvWebhookSecrets::from_lookup(|name| {
        (name == "SENDGRID_WEBHOOK_PUBLIC_KEY").then(|| public_key(&signing_key(1)))
    });
    let keys = TenantWebhookSecrets::new(api.state.store.clone(), ring, deployment.into_arc());
    api.state = api.state.clone().with_webhook_secrets(keys.into_arc());
    api.router = rex_api::router(api.state.clone());
    api
}

async fn sendgrid_status(api: &TestApi, tenant: &str, signer: u8) -> StatusCode {
    let body = sendgrid_batch();
    let headers = sendgrid_headers(&signing_key(signer), now(), &body);
    let path = format!("/v1/webhooks/{tenant}/sendgrid");
    post(api, &path, JSON, &headers, &body).await.status
}

async fn store_key(api: &TestApi, signer: u8) {
    let r = api
        .call(
            "PUT",
            "/v1/secrets/sendgrid.webhook_public_key",
            Some(&api.keys.a),
            Some(json!({"value": public_key(&signing_key(signer))})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
}

async fn each_tenant_verifies_with_its_own_key(api: &TestApi) {
    // before acme stores a key, the deployment's verifies its webhooks
    assert_eq!(sendgrid_status(api, "acme", 1).await, StatusCode::OK);

    store_key(api, 2).await;
    assert_eq!(sendgrid_status(api, "acme", 2).await, StatusCode::OK);
    assert_eq!(
        sendgrid_status(api, "acme", 1).await,
        StatusCode::UNAUTHORIZED,
        "the deployment's key no longer verifies a tenant with its own"
    );
    // globex stored none: the deployment's key, and not acme's
    assert_eq!(sendgrid_status(api, "globex", 1).await, StatusCode::OK);
    assert_eq!(
        sendgrid_status(api, "globex", 2).await,
        StatusCode::UNAUTHORIZED
    );

    // a rotated key is used at once, the old one refused
    store_key(api, 3).await;
    assert_eq!(sendgrid_status(api, "acme", 3).await, StatusCode::OK);
    assert_eq!(
        sendgrid_status(api, "acme", 2).await,
        StatusCode::UNAUTHORIZED
    );

    // deleting it brings the deployment's back
    let r = api
        .call(
            "DELETE",
            "/v1/secrets/sendgrid.webhook_public_key",
            Some(&api.keys.a),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(sendgrid_status(api, "acme", 1).await, StatusCode::OK);
}

#[tokio::test]
async fn each_tenant_verifies_with_its_own_key_embedded() {
    let api = with_tenant_keys(TestApi::embedded(config()).await);
    each_tenant_verifies_with_its_own_key(&api).await;
}

#[tokio::test]
async fn each_tenant_verifies_with_its_own_key_on_postgres_and_rabbitmq() {
    let api = with_tenant_keys(TestApi::production(config()).await);
    let result = AssertUnwindSafe(each_tenant_verifies_with_its_own_key(&api))
        .catch_unwind()
        .await;
    api.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
