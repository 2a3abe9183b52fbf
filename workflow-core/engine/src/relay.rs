//! Publishes outbox rows that were committed but never published (a crash between commit
//! and publish, or a broker outage).

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::publish::Outgoing;
use crate::{Engine, EngineError};

const RELAY_BATCH: u64 = 500;

/// Runs the relay until `shutdown`.
pub async fn run(
    engine: Engine,
    interval: Duration,
    grace: Duration,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    loop {
        match relay_once(&engine, grace).await {
            Ok(n) if n as u64 == RELAY_BATCH => continue, // more left behind
            Ok(_) => {}
            Err(err) => warn!(error = %err, "outbox relay pass failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One pass: claims rows older than `grace` (`SKIP LOCKED`, so relays of several
/// orchestrators share them), publishes them with confirms, deletes them, commits.
/// Returns how many rows were published.
pub async fn relay_once(engine: &Engine, grace: Duration) -> Result<usize, EngineError> {
    let older_than =
        engine.clock.now() - ChronoDuration::from_std(grace).unwrap_or(ChronoDuration::zero());
    let txn = engine.store.begin().await?;
    let rows = rex_store::claim_outbox(&txn, older_than, RELAY_BATCH).await?;
    if rows.is_empty() {
        txn.commit().await.map_err(rex_store::StoreError::from)?;
        return Ok(0);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let batch = rows
        .into_iter()
        .map(|row| {
            let o = Outgoing::from_row(row);
            (o.destination, o.message)
        })
        .collect();
    engine.broker.publish(batch).await?;
    rex_store::delete_outbox(&txn, &ids).await?;
    txn.commit().await.map_err(rex_store::StoreError::from)?;
    info!(rows = ids.len(), "relay published outbox rows left behind");
    Ok(ids.len())
}
