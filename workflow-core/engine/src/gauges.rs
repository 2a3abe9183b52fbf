//! Samples the state an operator or an autoscaler watches: queue depths, the age of
//! each agent's oldest waiting task, dead letters, missions by state, the outbox backlog.

use std::time::Duration;

use rex_observability::metrics;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::Engine;

/// Outcomes counted by the overview; the gauges use only the queues.
const OUTCOME_WINDOW: Duration = Duration::from_secs(300);

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
    match engine.agent_overview(agents, OUTCOME_WINDOW).await {
        Ok(overview) => {
            for agent in overview.iter().filter(|a| agents.contains(&a.agent)) {
                if let Some(ready) = agent.queue_ready {
                    m.set_queue_depth(&agent.agent, ready);
                }
                if let Some(n) = agent.dead_letters {
                    m.set_dead_letter_queue_depth(&agent.agent, n);
                }
                m.set_queue_oldest_age(
                    &agent.agent,
                    agent.oldest_queued_age.unwrap_or(Duration::ZERO),
                );
            }
        }
        Err(err) => debug!(error = %err, "agent queues not sampled"),
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
