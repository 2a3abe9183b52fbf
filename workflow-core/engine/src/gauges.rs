//! Samples the state an operator or an autoscaler watches: queue depths, dead letters,
//! missions by state, the outbox backlog.

use std::time::Duration;

use rex_broker::Destination;
use rex_observability::metrics;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::Engine;

/// Every mission state, so a state with no mission reads 0 rather than vanishing.
const STATES: [&str; 5] = ["pending", "running", "succeeded", "failed", "cancelled"];

pub(crate) async fn run(
    engine: Engine,
    agents: Vec<String>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        sample(&engine, &agents).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// One sample; a failing source leaves its gauges at their last value.
pub async fn sample(engine: &Engine, agents: &[String]) {
    let m = metrics();
    for agent in agents {
        match engine
            .broker
            .queue_stats(&Destination::Agent(agent.clone()))
            .await
        {
            Ok(stats) => m.set_queue_depth(agent, stats.ready),
            Err(err) => debug!(agent, error = %err, "queue depth not sampled"),
        }
        if let Ok(n) = engine.broker.dead_letter_count(agent).await {
            m.set_dead_letter_queue_depth(agent, n);
        }
    }
    if let Ok(counts) = engine.store.count_missions_by_status().await {
        for state in STATES {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            m.set_missions(state, n);
        }
    }
    if let (Ok(rows), Ok(oldest)) = (
        engine.store.count_outbox().await,
        engine.store.oldest_outbox().await,
    ) {
        let age = oldest.and_then(|t| (engine.clock.now() - t).to_std().ok());
        m.set_outbox_backlog(rows, age);
    }
}
