//! `rex bench webhooks`: how many provider events per second the API takes in. Serves
//! the real router on a loopback socket with a SendGrid verification key generated for
//! the run, and for `--duration` seconds `--connections` senders each post signed
//! SendGrid event batches of `--batch` events (every event with its own
//! `sg_event_id`) as fast as they are answered (closed loop).
//!
//! Every accepted event went the production path: the ECDSA signature checked on the
//! raw body, the batch parsed, one receipt per event recorded in `webhook_receipts`
//! (the dedupe ledger) and the events published to the broker's inbox queue with
//! publisher confirms before the answer. Nothing consumes the inbox during the run, so
//! its depth afterwards is checked against the events accepted: what was answered 2xx
//! is in the queue. Prints events/s, requests/s and request latency.
//!
//! The senders run in this process and sign each batch (one ECDSA P-256 signature per
//! request), so they share the CPU with the API, the database and the broker.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rex_api::{ApiConfig, ApiState, EnvWebhookSecrets};
use rex_broker::Destination;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{BenchArgs, backend_label, database_url, namespaced, pct};
use crate::cli::Global;
use crate::setup;

const TENANT: &str = "bench";

/// The DER prefix of a P-256 SubjectPublicKeyInfo (`id-ecPublicKey`, `prime256v1`,
/// an uncompressed point follows): the form SendGrid shows its verification key in.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// One sender's requests.
#[derive(Default)]
struct Sent {
    latencies_ms: Vec<f64>,
    accepted: u64,
    errors: Vec<String>,
}

pub(super) async fn run(g: &Global, args: &BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.duration > 0.0, "--duration must be positive");
    let tmp = tempfile::tempdir()?;
    let url = database_url(g, &tmp);
    let g = namespaced(g);
    let store = setup::store(&g, Some(&url)).await?;
    let broker = setup::embedded_broker(&g).await?;
    broker.declare(&[]).await?;
    let engine = setup::engine(store.clone(), broker.clone());

    let key = signing_key();
    let public = public_key(&key);
    let secrets = EnvWebhookSecrets::from_lookup(|name| {
        (name == rex_api::WebhookProvider::SendGrid.env_var()).then(|| public.clone())
    });
    let state = ApiState::new(store, engine, broker.clone(), ApiConfig::default())
        .with_webhook_secrets(secrets.into_arc());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let server = {
        let s = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = rex_api::serve_on(listener, state, s).await {
                eprintln!("api failed: {e}");
            }
        })
    };
    let endpoint = format!("http://{addr}/v1/webhooks/{TENANT}/sendgrid");
    println!(
        "rex bench webhooks on {}: {} connections posting signed SendGrid batches of {} events for {} s, served on http://{addr}",
        backend_label(&url, &g),
        args.connections,
        args.batch,
        args.duration
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(10))
        .build()?;

    // Event ids unique to this run: the receipts of an earlier run in the same database
    // would count its events as duplicates.
    let run = Uuid::new_v4().simple().to_string();
    // warm-up: connections, prepared statements, the verifier's key parsing
    let warm_up = format!("{run}-warm");
    let warm = send_for(
        &client,
        &endpoint,
        &key,
        args,
        1.0_f64.min(args.duration),
        &warm_up,
    )
    .await;
    let began = Instant::now();
    let sent = send_for(&client, &endpoint, &key, args, args.duration, &run).await;
    let elapsed = began.elapsed().as_secs_f64();

    let inbox = broker.queue_stats(&Destination::Inbox).await?.ready;
    report(args, &sent, elapsed, inbox, warm.accepted);

    shutdown.cancel();
    let _ = server.await;
    if g.amqp_url.is_some() {
        setup::delete_amqp_topology(&g, &[]).await?;
    }
    let posted = sent.latencies_ms.len() as u64 * args.batch as u64;
    anyhow::ensure!(
        sent.accepted == posted,
        "{posted} events were answered but {} accepted: the others counted as duplicates or rejected",
        sent.accepted
    );
    let expected = sent.accepted + warm.accepted;
    anyhow::ensure!(
        inbox == expected,
        "the inbox holds {inbox} events but {expected} were answered as accepted"
    );
    Ok(ExitCode::SUCCESS)
}

/// `--connections` senders posting batches back to back for `duration` seconds.
async fn send_for(
    client: &reqwest::Client,
    endpoint: &str,
    key: &SigningKey,
    args: &BenchArgs,
    duration: f64,
    phase: &str,
) -> Sent {
    let deadline = Instant::now() + Duration::from_secs_f64(duration);
    let key = Arc::new(key.clone());
    let mut senders = JoinSet::new();
    for conn in 0..args.connections {
        let client = client.clone();
        let endpoint = endpoint.to_owned();
        let key = key.clone();
        let batch = args.batch;
        let prefix = format!("{phase}-{conn}");
        senders.spawn(async move {
            let mut sent = Sent::default();
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let body = batch_body(&prefix, seq, batch);
                seq += 1;
                let began = Instant::now();
                match post(&client, &endpoint, &key, body).await {
                    Ok(accepted) => {
                        sent.latencies_ms
                            .push(began.elapsed().as_secs_f64() * 1000.0);
                        sent.accepted += accepted;
                    }
                    Err(e) => sent.errors.push(e),
                }
            }
            sent
        });
    }
    let mut all = Sent::default();
    while let Some(done) = senders.join_next().await {
        let Ok(mut s) = done else { continue };
        all.latencies_ms.append(&mut s.latencies_ms);
        all.accepted += s.accepted;
        all.errors.append(&mut s.errors);
    }
    all
}

/// A SendGrid event batch: `n` `delivered` events with ids unique to the run.
fn batch_body(prefix: &str, seq: u64, n: usize) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp();
    let events: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "email": format!("lead{i}@bench.example"),
                "timestamp": now,
                "event": "delivered",
                "sg_event_id": format!("{prefix}-{seq}-{i}"),
                "sg_message_id": format!("bench-{prefix}-{seq}.filter"),
                "response": "250 OK",
            })
        })
        .collect();
    serde_json::to_vec(&events).unwrap_or_default()
}

/// Posts one signed batch; the number of events the API accepted.
async fn post(
    client: &reqwest::Client,
    endpoint: &str,
    key: &SigningKey,
    body: Vec<u8>,
) -> Result<u64, String> {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut signed = timestamp.clone().into_bytes();
    signed.extend_from_slice(&body);
    let signature: Signature = key.sign(&signed);
    let response = client
        .post(endpoint)
        .header("content-type", "application/json")
        .header(
            rex_adapters::sendgrid::SIGNATURE_HEADER,
            BASE64.encode(signature.to_der().as_bytes()),
        )
        .header(rex_adapters::sendgrid::TIMESTAMP_HEADER, timestamp)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let ack: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("{status}: unreadable body: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {ack}"));
    }
    ack["accepted"]
        .as_u64()
        .ok_or_else(|| format!("{status}: no `accepted` in {ack}"))
}

/// A signing key for this run only.
fn signing_key() -> SigningKey {
    loop {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
        // almost every 32-byte string is a valid scalar; retry the rare one that is not
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// The base64 DER SubjectPublicKeyInfo, as SendGrid shows its verification key.
fn public_key(key: &SigningKey) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.verifying_key().to_encoded_point(false).as_bytes());
    BASE64.encode(der)
}

fn report(args: &BenchArgs, sent: &Sent, elapsed: f64, inbox: u64, warm: u64) {
    let mut l = sent.latencies_ms.clone();
    println!();
    println!(
        "webhook events: {} accepted in {elapsed:.1} s = {:.0} events/s ({:.0} requests/s of {} events), {} errors",
        sent.accepted,
        sent.accepted as f64 / elapsed,
        l.len() as f64 / elapsed,
        args.batch,
        sent.errors.len()
    );
    println!(
        "  request latency p50 / p95 / p99 / max   {:.2} / {:.2} / {:.2} / {:.2} ms",
        pct(&mut l, 50.0),
        pct(&mut l, 95.0),
        pct(&mut l, 99.0),
        pct(&mut l, 100.0)
    );
    println!(
        "  inbox queue holds {inbox} events (accepted: {} in the run + {warm} in the warm-up)",
        sent.accepted
    );
    let mut errors = sent.errors.clone();
    errors.sort();
    errors.dedup();
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
}
