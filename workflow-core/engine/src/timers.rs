//! Fires due timers (retry back-off, step timeouts) as state machine events.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rex_core::machine::{Event, TimerKind};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Engine, EngineError};

/// Most timers claimed and applied in one transaction.
const TIMER_BATCH: u64 = 256;
/// Firing transactions one orchestrator keeps in flight while there is a backlog: while
/// one waits on its statements or its commit, the next claims its own batch (`SKIP
/// LOCKED` keeps the batches disjoint, as between orchestrators).
const FIRING_CONCURRENCY: usize = 3;

/// Runs the timer loop until `shutdown`. It sleeps until the next due timer, at most
/// `poll` (timers armed by other orchestrators are seen within `poll`).
pub async fn run(
    engine: Engine,
    poll: Duration,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    loop {
        let sleep = match fire_backlog(&engine).await {
            Ok(()) => match rex_store::next_timer_due(engine.store.conn()).await {
                Ok(Some(due)) => (due - engine.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(poll),
                Ok(None) => poll,
                Err(err) => {
                    warn!(error = %err, "timer lookup failed");
                    poll
                }
            },
            Err(err) => {
                warn!(error = %err, "timer pass failed");
                poll
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Fires batches until one comes back short (nothing more is due, or what is due is
/// locked by another firing). While batches come back full, up to
/// [`FIRING_CONCURRENCY`] are in flight. The first error is returned once the batches
/// in flight have finished.
async fn fire_backlog(engine: &Engine) -> Result<(), EngineError> {
    let mut running = FuturesUnordered::new();
    running.push(fire_due(engine));
    let mut first_error = None;
    while let Some(result) = running.next().await {
        match result {
            Ok(n) if n as u64 == TIMER_BATCH && first_error.is_none() => {
                while running.len() < FIRING_CONCURRENCY {
                    running.push(fire_due(engine));
                }
            }
            Ok(_) => {}
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Claims due timers with `FOR UPDATE SKIP LOCKED`, applies them and deletes them in the
/// same transaction. Returns how many fired.
pub async fn fire_due(engine: &Engine) -> Result<usize, EngineError> {
    let txn = engine.store.begin().await?;
    let due = rex_store::claim_due_timers(&txn, engine.clock.now(), TIMER_BATCH).await?;
    if due.is_empty() {
        txn.commit().await.map_err(rex_store::StoreError::from)?;
        return Ok(0);
    }
    let ids: Vec<_> = due.iter().map(|t| t.id).collect();
    let now = engine.clock.now();
    for t in &due {
        if let Ok(late) = (now - t.due_at).to_std() {
            rex_observability::metrics().observe_timer_lateness(late);
        }
    }
    let events = due
        .into_iter()
        .filter_map(|t| {
            let kind = TimerKind::from_parts(
                &t.kind,
                t.step_id.clone().unwrap_or_default(),
                t.attempt.unwrap_or(0).max(0) as u32,
            );
            if kind.is_none() {
                warn!(timer = %t.id, kind = %t.kind, "unknown timer kind dropped");
            }
            kind.map(|k| (t.mission_id, Event::TimerFired(k)))
        })
        .collect();
    let committed = engine.commit_in(txn, events, &ids).await?;
    let fired = ids.len();
    engine.finish_commit(committed).await;
    Ok(fired)
}
