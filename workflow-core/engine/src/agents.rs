//! The agents as an operator sees them: per agent its queue (ready messages,
//! consumers, dead letters, from the broker) and its work (tasks waiting and running,
//! the oldest waiting task's age, recent outcomes and error rate, from the
//! checkpoints). The store counts per (definition, step); the definitions say which
//! agent runs each step.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rex_broker::Destination;
use rex_core::workflow::{FanOut, ItemBody, StepKind};
use rex_store::{AttemptTally, TaskBacklog};

use crate::{Engine, EngineError};

/// One agent's queue and work.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentOverview {
    pub agent: String,
    /// Messages ready in the agent's queue (the broker's count; `None` when the broker
    /// could not say, e.g. the queue was never declared).
    pub queue_ready: Option<u64>,
    /// Consumers on the queue: worker channels serving the agent.
    pub consumers: Option<u32>,
    pub dead_letters: Option<u64>,
    /// Dispatched tasks no worker has claimed yet (queued, or in the outbox).
    pub queued: u64,
    /// Tasks a worker is running now.
    pub in_flight: u64,
    /// How long the longest-waiting queued task has waited.
    pub oldest_queued_age: Option<Duration>,
    /// Attempts finished within the window, by outcome.
    pub recent: RecentOutcomes,
}

/// Attempt outcomes of one agent within a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentOutcomes {
    pub window_seconds: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub deferred: u64,
    pub skipped: u64,
    /// failed / (succeeded + failed); `None` with no such attempt in the window.
    pub error_rate: Option<f64>,
}

impl Engine {
    /// The overview of `agents` (plus any other agent that has work or recent attempts),
    /// sorted by name; outcomes counted over the last `window`.
    #[tracing::instrument(skip(self, agents))]
    pub async fn agent_overview(
        &self,
        agents: &[String],
        window: Duration,
    ) -> Result<Vec<AgentOverview>, EngineError> {
        let now = self.clock.now();
        let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::zero());
        let backlog = self.store.task_backlog().await?;
        let tallies = self.store.attempt_tallies_since(since).await?;
        let mut steps = Vec::with_capacity(backlog.len());
        for row in backlog {
            let agent = self.step_agent(&row).await;
            steps.push((agent, row));
        }
        let mut overview = tally(agents, &steps, &tallies, now, window);
        for agent in &mut overview {
            let queue = Destination::Agent(agent.agent.clone());
            if let Ok(stats) = self.broker.queue_stats(&queue).await {
                agent.queue_ready = Some(stats.ready);
                agent.consumers = Some(stats.consumers);
            }
            agent.dead_letters = self.broker.dead_letter_count(&agent.agent).await.ok();
        }
        Ok(overview)
    }

    /// The agent that runs a backlog row's step; `None` for a definition or step that
    /// no longer compiles to a task (counted nowhere rather than guessed).
    async fn step_agent(&self, row: &TaskBacklog) -> Option<String> {
        let workflow = self.catalog.workflow(row.definition_id).await.ok()?;
        let step = &workflow.steps[workflow.step_index(&row.step_id)?];
        match &step.kind {
            StepKind::Task { agent, .. } => Some(agent.clone()),
            // a task fan-out's items are one-step missions with the parent's definition
            // and the same step id
            StepKind::FanOut(FanOut {
                body: ItemBody::Task { agent, .. },
                ..
            }) => Some(agent.clone()),
            _ => None,
        }
    }
}

/// Folds the store's counts into one overview per agent (pure).
pub(crate) fn tally(
    agents: &[String],
    steps: &[(Option<String>, TaskBacklog)],
    tallies: &[AttemptTally],
    now: DateTime<Utc>,
    window: Duration,
) -> Vec<AgentOverview> {
    let mut by_agent: BTreeMap<String, AgentOverview> = BTreeMap::new();
    let blank = |agent: &str| AgentOverview {
        agent: agent.to_owned(),
        recent: RecentOutcomes {
            window_seconds: window.as_secs(),
            ..RecentOutcomes::default()
        },
        ..AgentOverview::default()
    };
    for agent in agents {
        by_agent.insert(agent.clone(), blank(agent));
    }
    for (agent, row) in steps {
        let Some(agent) = agent else { continue };
        let entry = by_agent
            .entry(agent.clone())
            .or_insert_with(|| blank(agent));
        entry.queued += row.queued;
        entry.in_flight += row.running;
        if let Some(at) = row.oldest_queued_at {
            let age = (now - at).to_std().unwrap_or(Duration::ZERO);
            entry.oldest_queued_age = Some(entry.oldest_queued_age.map_or(age, |a| a.max(age)));
        }
    }
    for t in tallies {
        let entry = by_agent
            .entry(t.agent.clone())
            .or_insert_with(|| blank(&t.agent));
        let recent = &mut entry.recent;
        match t.status.as_str() {
            "succeeded" => recent.succeeded += t.attempts,
            "failed" => recent.failed += t.attempts,
            "deferred" => recent.deferred += t.attempts,
            "skipped" => recent.skipped += t.attempts,
            _ => {}
        }
    }
    for entry in by_agent.values_mut() {
        let r = &mut entry.recent;
        let decided = r.succeeded + r.failed;
        r.error_rate = (decided > 0).then(|| r.failed as f64 / decided as f64);
    }
    by_agent.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn backlog(
        step: &str,
        queued: u64,
        running: u64,
        oldest: Option<DateTime<Utc>>,
    ) -> TaskBacklog {
        TaskBacklog {
            definition_id: Uuid::nil(),
            step_id: step.into(),
            queued,
            running,
            oldest_queued_at: oldest,
        }
    }

    fn tally_of(agent: &str, status: &str, attempts: u64) -> AttemptTally {
        AttemptTally {
            agent: agent.into(),
            status: status.into(),
            attempts,
        }
    }

    #[test]
    fn sums_steps_per_agent_and_keeps_the_oldest_wait() {
        let now = Utc::now();
        let steps = vec![
            (
                Some("scraper".into()),
                backlog("a", 2, 1, Some(now - chrono::Duration::seconds(5))),
            ),
            (
                Some("scraper".into()),
                backlog("b", 3, 0, Some(now - chrono::Duration::seconds(30))),
            ),
            (Some("icp".into()), backlog("c", 0, 4, None)),
            (None, backlog("gone", 9, 9, Some(now))),
        ];
        let out = tally(
            &["reviver".into()],
            &steps,
            &[],
            now,
            Duration::from_secs(300),
        );
        let names: Vec<_> = out.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(names, ["icp", "reviver", "scraper"]);
        let scraper = &out[2];
        assert_eq!((scraper.queued, scraper.in_flight), (5, 1));
        assert_eq!(scraper.oldest_queued_age, Some(Duration::from_secs(30)));
        assert_eq!(out[0].oldest_queued_age, None);
        assert_eq!((out[1].queued, out[1].in_flight), (0, 0));
        assert_eq!(out[1].recent.window_seconds, 300);
    }

    #[test]
    fn error_rate_counts_failures_among_decided_attempts() {
        let tallies = [
            tally_of("outreach", "succeeded", 6),
            tally_of("outreach", "failed", 2),
            tally_of("outreach", "deferred", 10),
            tally_of("outreach", "skipped", 1),
            tally_of("icp", "deferred", 3),
        ];
        let out = tally(&[], &[], &tallies, Utc::now(), Duration::from_secs(60));
        let outreach = out.iter().find(|a| a.agent == "outreach").unwrap();
        assert_eq!(outreach.recent.error_rate, Some(0.25));
        assert_eq!((outreach.recent.deferred, outreach.recent.skipped), (10, 1));
        let icp = out.iter().find(|a| a.agent == "icp").unwrap();
        assert_eq!(icp.recent.error_rate, None, "deferrals are not decisions");
    }

    #[test]
    fn a_dispatch_in_the_future_reads_as_no_wait() {
        let now = Utc::now();
        let steps = vec![(
            Some("x".into()),
            backlog("a", 1, 0, Some(now + chrono::Duration::seconds(3))),
        )];
        let out = tally(&[], &steps, &[], now, Duration::from_secs(60));
        assert_eq!(out[0].oldest_queued_age, Some(Duration::ZERO));
    }
}
