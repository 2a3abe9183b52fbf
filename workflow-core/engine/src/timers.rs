//! Fires due timers (retry back-off, step timeouts) as state machine events.

use std::time::Duration;

use rex_core::machine::{Event, TimerKind};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{Engine, EngineError};

const TIMER_BATCH: u64 = 256;

/// Runs the timer loop until `shutdown`. It sleeps until the next due timer, at most
/// `poll` (timers armed by other orchestrators are seen within `poll`).
pub async fn run(
    engine: Engine,
    poll: Duration,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    loop {
        let sleep = match fire_due(&engine).await {
            Ok(n) if n as u64 == TIMER_BATCH => Duration::ZERO,
            Ok(_) => match rex_store::next_timer_due(engine.store.conn()).await {
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
