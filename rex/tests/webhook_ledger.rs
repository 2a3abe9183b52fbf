//! A provider's webhook all the way to the suppression ledger, on PostgreSQL and
//! RabbitMQ: a signed SendGrid bounce posted to `rex api` over a socket is verified,
//! handed to the inbox queue, consumed by the outreach worker's inbox consumer and
//! ends as a suppression of the lead's address. A repeat of the same event changes
//! nothing. Needs PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rex_api::{ApiConfig, ApiState, EnvWebhookSecrets, Scope};
use rex_broker::{AmqpBroker, Broker, BrokerConfig};
use rex_core::protocol::SystemClock;
use rex_core::validate::ValidateOptions;
use rex_domain::Channel;
use rex_engine::{Catalog, Engine};
use rex_store::testing::fresh_postgres;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn amqp_url() -> String {
    std::env::var("REX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

fn signing_key() -> SigningKey {
    let mut bytes = [0u8; 32];
    bytes[0] = 0x21;
    bytes[31] = 7;
    SigningKey::from_slice(&bytes).expect("a valid scalar")
}

/// The base64 DER SubjectPublicKeyInfo SendGrid shows for its verification key.
fn public_key(key: &SigningKey) -> String {
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    der.extend_from_slice(key.verifying_key().to_encoded_point(false).as_bytes());
    BASE64.encode(der)
}

#[tokio::test]
async fn a_signed_bounce_webhook_suppresses_the_address_through_rabbitmq() {
    let db = fresh_postgres().await;
    let store = db.store().clone();
    let amqp = AmqpBroker::connect(BrokerConfig {
        url: amqp_url(),
        prefix: format!("test-webhook-{}", Uuid::new_v4().simple()),
        delivery_limit: 5,
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ not reachable at {} ({e})", amqp_url()));
    let broker: Arc<dyn Broker> = Arc::new(amqp.clone());
    let agents = vec!["outreach".to_owned()];
    broker.declare(&agents).await.expect("topology");
    let engine = Engine::new(
        store.clone(),
        broker.clone(),
        Catalog::new(
            store.clone(),
            ValidateOptions::with_known_agents(agents.clone()),
        ),
        Arc::new(SystemClock),
    );

    // the API, over a socket, verifying SendGrid with our key
    let key = signing_key();
    let public = public_key(&key);
    let secrets = EnvWebhookSecrets::from_lookup(move |name| {
        (name == "SENDGRID_WEBHOOK_PUBLIC_KEY").then(|| public.clone())
    });
    let state = ApiState::new(
        store.clone(),
        engine.clone(),
        broker.clone(),
        ApiConfig::default(),
    )
    .with_webhook_secrets(Arc::new(secrets));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(rex_api::serve_on(listener, state, shutdown.clone()));

    // the outreach worker's inbox consumer
    let inbox =
        rex_agents::inbox_consumer(&rex_agents::AgentsConfig::default(), store.clone(), engine)
            .expect("an inbox consumer");
    tokio::spawn(inbox.run(broker.clone(), 4, shutdown.clone()));

    // a lead of tenant acme, imported through the API
    let http = reqwest::Client::new();
    let api_key = rex_api::create_api_key(&store, "acme", "test", &[Scope::Read, Scope::Write])
        .await
        .unwrap()
        .key;
    let r = http
        .post(format!("{base}/v1/leads/import"))
        .bearer_auth(&api_key)
        .header("content-type", "text/csv")
        .body(
            "external_id,email,first_name,source,stage\nL1,lee@acme.example,Lee,hubspot,proposal\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["inserted"], json!(1), "{report}");

    // SendGrid posts a signed bounce for that address
    let body = serde_json::to_vec(&json!([
        {"email": "lee@acme.example", "timestamp": chrono::Utc::now().timestamp(),
         "event": "bounce", "type": "bounce", "reason": "550 5.1.1 user unknown",
         "sg_event_id": "ev-bounce-1", "sg_message_id": "X1.filter"}
    ]))
    .unwrap();
    let post = || {
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let mut signed = timestamp.clone().into_bytes();
        signed.extend_from_slice(&body);
        let signature: Signature = key.sign(&signed);
        http.post(format!("{base}/v1/webhooks/acme/sendgrid"))
            .header("content-type", "application/json")
            .header(
                "x-twilio-email-event-webhook-signature",
                BASE64.encode(signature.to_der().as_bytes()),
            )
            .header("x-twilio-email-event-webhook-timestamp", timestamp)
            .body(body.clone())
            .send()
    };
    let r = post().await.unwrap();
    assert!(
        r.status().is_success(),
        "{}: {}",
        r.status(),
        r.text().await.unwrap()
    );

    // … and the consumer suppresses the address in the ledger
    let tenant = rex_domain_store::tenant_by_slug(store.conn(), "acme")
        .await
        .unwrap()
        .expect("tenant acme")
        .id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let suppression = loop {
        let found = rex_domain_store::is_suppressed(
            store.conn(),
            tenant,
            Channel::Email,
            "lee@acme.example",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        if let Some(found) = found {
            break found;
        }
        if tokio::time::Instant::now() >= deadline {
            let inbox = broker.queue_stats(&rex_broker::Destination::Inbox).await;
            let count = |table: &'static str| {
                let conn = store.conn().clone();
                async move {
                    use sea_orm::ConnectionTrait;
                    conn.query_one_raw(sea_orm::Statement::from_string(
                        conn.get_database_backend(),
                        format!("SELECT COUNT(*) AS n FROM {table}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap()
                    .try_get::<i64>("", "n")
                    .unwrap()
                }
            };
            panic!(
                "the bounce never reached the suppression ledger: inbox {inbox:?}, {} receipts, {} delivery events, {} leads",
                count("webhook_receipts").await,
                count("delivery_events").await,
                count("leads").await,
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(suppression.reason, "hard_bounce", "{suppression:?}");

    // the same event again is taken (2xx) and changes nothing
    let r = post().await.unwrap();
    assert!(r.status().is_success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lead = rex_domain_store::lead_by_external_id(store.conn(), tenant, "L1")
        .await
        .unwrap()
        .expect("lead L1");
    let rows =
        rex_domain_store::lead_suppressions(store.conn(), tenant, lead.id, chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(rows.len(), 1, "one suppression: {rows:?}");

    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    amqp.delete_topology(&agents)
        .await
        .expect("deleting the topology");
    amqp.shutdown().await;
    db.cleanup().await;
}
