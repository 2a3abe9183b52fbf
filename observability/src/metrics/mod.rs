//! Prometheus metrics: one registry per process, a typed API, the text format.
//!
//! Every label is bounded: enums where the set is fixed, and a per-process ceiling
//! on free-form names (agents, actions, providers…; see [`labels`]). No metric is
//! labelled by mission, step attempt, lead or address. Gauges whose truth lives in
//! the database or the broker (queue depth, missions by state, outbox backlog,
//! dead-letter queues) are set by a collector loop; counters and histograms are fed
//! where the event happens.

mod domain;
mod http;
pub mod labels;

pub use http::{HttpMetrics, UNMATCHED, http_metrics};

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    CounterVec, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use self::labels::BoundedLabel;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const STEP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
const DISPATCH_LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// One provider call, retries included: from a fast API (tens of ms) to an LLM
/// completion or a retried send backing off for a minute.
const PROVIDER_CALL_BUCKETS: &[f64] = &[
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
const TIMER_LATENESS_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Why an attempt failed (`kind` label of `rex_steps_failed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The agent reported a transient error: a retry may follow.
    Retryable,
    /// The agent reported a permanent error: the step fails.
    Permanent,
    /// The orchestrator's step timeout fired before a result came back.
    Timeout,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Retryable => "retryable",
            FailureKind::Permanent => "permanent",
            FailureKind::Timeout => "timeout",
        }
    }
}

/// How a provider call ended (`outcome` label of `rex_provider_calls_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderOutcome {
    Ok,
    /// The call failed; its kind goes to `rex_provider_errors_total`.
    Error,
    /// A dry-run stand-in answered: nothing left the process, nothing was delivered.
    DryRun,
}

impl ProviderOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderOutcome::Ok => "ok",
            ProviderOutcome::Error => "error",
            ProviderOutcome::DryRun => "dry_run",
        }
    }
}

/// Which of the three decision layers decided (`layer` label of
/// `rex_decisions_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionLayer {
    StateMachine,
    Rules,
    Llm,
    /// The LLM was unavailable or invalid and the deterministic fallback decided.
    Fallback,
}

impl DecisionLayer {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionLayer::StateMachine => "state_machine",
            DecisionLayer::Rules => "rules",
            DecisionLayer::Llm => "llm",
            DecisionLayer::Fallback => "fallback",
        }
    }
}

/// The five health tiers of a sending domain, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainTier {
    Excellent,
    Good,
    Fair,
    Poor,
    /// Over the hard limits: sending from it must stop (alerted on).
    Critical,
}

impl DomainTier {
    pub const ALL: [DomainTier; 5] = [
        DomainTier::Excellent,
        DomainTier::Good,
        DomainTier::Fair,
        DomainTier::Poor,
        DomainTier::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DomainTier::Excellent => "excellent",
            DomainTier::Good => "good",
            DomainTier::Fair => "fair",
            DomainTier::Poor => "poor",
            DomainTier::Critical => "critical",
        }
    }
}

/// Every metric family of a Rex process. Use the process-wide [`metrics()`];
/// [`Metrics::new`] makes an independent set, for tests.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    families: Vec<String>,

    steps_started: IntCounterVec,
    steps_succeeded: IntCounterVec,
    steps_failed: IntCounterVec,
    steps_retried: IntCounterVec,
    step_duration: HistogramVec,
    dispatch_latency: HistogramVec,
    worker_steps_cancelled: IntCounterVec,
    steps_deferred: IntCounterVec,

    queue_depth: IntGaugeVec,
    queue_oldest_age: GaugeVec,
    dead_letters: IntCounterVec,
    dead_letter_queue_depth: IntGaugeVec,

    missions: IntGaugeVec,
    missions_stalled: IntGauge,
    missions_started: IntCounterVec,
    missions_finished: IntCounterVec,

    outbox_backlog: IntGauge,
    outbox_oldest_age: Gauge,
    timer_lateness: Histogram,

    provider_calls: IntCounterVec,
    provider_errors: IntCounterVec,
    provider_cost: CounterVec,
    provider_call_duration: HistogramVec,

    decisions: IntCounterVec,
    suppressions: IntCounterVec,
    sends_deferred: IntCounterVec,
    webhook_events: IntCounterVec,

    domain_health: IntGaugeVec,
    domain_bounce_rate: GaugeVec,
    domain_complaint_rate: GaugeVec,

    agents: BoundedLabel,
    actions: BoundedLabel,
    workflows: BoundedLabel,
    states: BoundedLabel,
    providers: BoundedLabel,
    operations: BoundedLabel,
    error_kinds: BoundedLabel,
    cost_units: BoundedLabel,
    reasons: BoundedLabel,
    rules: BoundedLabel,
    domains: BoundedLabel,
}

/// Builds and registers one family; names and label sets are constants, so a
/// failure is a bug in this file, caught by every test.
fn family<C: Collector + Clone + 'static>(
    registry: &Registry,
    families: &mut Vec<String>,
    collector: Result<C, prometheus::Error>,
) -> C {
    let collector = collector.expect("metric definitions are valid");
    for desc in collector.desc() {
        families.push(desc.fq_name.clone());
    }
    registry
        .register(Box::new(collector.clone()))
        .expect("metric names are unique");
    collector
}

fn histogram_opts(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(name, help).buckets(buckets.to_vec())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let mut fams = Vec::new();
        let r = &registry;
        let f = &mut fams;
        let step = &["agent", "action"];
        Self {
            steps_started: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_steps_started_total",
                        "Step attempts a worker started running.",
                    ),
                    step,
                ),
            ),
            steps_succeeded: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new("rex_steps_succeeded_total", "Step attempts that succeeded."),
                    step,
                ),
            ),
            steps_failed: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_steps_failed_total",
                        "Step attempts that failed, by kind: retryable, permanent, timeout.",
                    ),
                    &["agent", "action", "kind"],
                ),
            ),
            steps_retried: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_steps_retried_total",
                        "Retries armed after a failed attempt.",
                    ),
                    step,
                ),
            ),
            step_duration: family(
                r,
                f,
                HistogramVec::new(
                    histogram_opts(
                        "rex_step_duration_seconds",
                        "Time a worker spent running one attempt, by outcome.",
                        STEP_DURATION_BUCKETS,
                    ),
                    &["agent", "action", "outcome"],
                ),
            ),
            dispatch_latency: family(
                r,
                f,
                HistogramVec::new(
                    histogram_opts(
                        "rex_dispatch_latency_seconds",
                        "Time from the orchestrator committing a task to a worker starting it.",
                        DISPATCH_LATENCY_BUCKETS,
                    ),
                    &["agent"],
                ),
            ),
            worker_steps_cancelled: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_worker_steps_cancelled_total",
                        "Running steps a worker told to stop because their mission had ended.",
                    ),
                    &["agent"],
                ),
            ),
            steps_deferred: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_worker_steps_deferred_total",
                        "Attempts that asked to run again later (a send window, a spent daily cap); not failures.",
                    ),
                    &["agent", "action"],
                ),
            ),
            queue_depth: family(
                r,
                f,
                IntGaugeVec::new(
                    Opts::new(
                        "rex_queue_depth",
                        "Messages ready in an agent's task queue.",
                    ),
                    &["agent"],
                ),
            ),
            queue_oldest_age: family(
                r,
                f,
                GaugeVec::new(
                    Opts::new(
                        "rex_queue_oldest_message_age_seconds",
                        "Age of the oldest task waiting in an agent's queue (0 when empty).",
                    ),
                    &["agent"],
                ),
            ),
            dead_letters: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_dead_letters_total",
                        "Dead letters recorded by the orchestrator (once per message id), by the agent whose queue they died in.",
                    ),
                    &["agent"],
                ),
            ),
            dead_letter_queue_depth: family(
                r,
                f,
                IntGaugeVec::new(
                    Opts::new(
                        "rex_dead_letter_queue_depth",
                        "Messages in an agent's dead-letter queue (including those the broker \
                     dead-lettered after the delivery limit).",
                    ),
                    &["agent"],
                ),
            ),
            missions: family(
                r,
                f,
                IntGaugeVec::new(
                    Opts::new("rex_missions", "Missions in the database, by state."),
                    &["state"],
                ),
            ),
            missions_stalled: family(
                r,
                f,
                IntGauge::with_opts(Opts::new(
                    "rex_missions_stalled",
                    "Running missions with no queued task, in-flight attempt or armed timer \
                 for longer than the stall threshold.",
                )),
            ),
            missions_started: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_missions_started_total",
                        "Missions started, by workflow.",
                    ),
                    &["workflow"],
                ),
            ),
            missions_finished: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_missions_finished_total",
                        "Missions that reached a final state, by workflow and state.",
                    ),
                    &["workflow", "state"],
                ),
            ),
            outbox_backlog: family(
                r,
                f,
                IntGauge::with_opts(Opts::new(
                    "rex_outbox_backlog",
                    "Committed tasks not yet published (outbox rows).",
                )),
            ),
            outbox_oldest_age: family(
                r,
                f,
                Gauge::with_opts(Opts::new(
                    "rex_outbox_oldest_age_seconds",
                    "Age of the oldest unpublished outbox row (0 when empty).",
                )),
            ),
            timer_lateness: family(
                r,
                f,
                Histogram::with_opts(histogram_opts(
                    "rex_timer_lateness_seconds",
                    "How long after its due time a durable timer fired.",
                    TIMER_LATENESS_BUCKETS,
                )),
            ),
            provider_calls: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_provider_calls_total",
                        "Calls to outside providers, by outcome: ok, error, dry_run.",
                    ),
                    &["provider", "operation", "outcome"],
                ),
            ),
            provider_errors: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_provider_errors_total",
                        "Provider calls that failed, by error kind.",
                    ),
                    &["provider", "operation", "kind"],
                ),
            ),
            provider_cost: family(
                r,
                f,
                CounterVec::new(
                    Opts::new(
                        "rex_provider_cost_total",
                        "What provider calls cost, in each provider's unit (emails, sms_segments, \
                     credits, prompt_tokens, completion_tokens, usd).",
                    ),
                    &["provider", "unit"],
                ),
            ),
            provider_call_duration: family(
                r,
                f,
                HistogramVec::new(
                    histogram_opts(
                        "rex_provider_call_duration_seconds",
                        "Time one provider call took, all its HTTP attempts together (dry runs \
                     excluded).",
                        PROVIDER_CALL_BUCKETS,
                    ),
                    &["provider", "operation"],
                ),
            ),
            decisions: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_decisions_total",
                        "Decisions, by the layer that took them (state_machine, rules, llm, \
                     fallback) and the named rule that decided.",
                    ),
                    &["layer", "rule"],
                ),
            ),
            suppressions: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_suppressions_total",
                        "Sends stopped or addresses suppressed, by reason.",
                    ),
                    &["reason"],
                ),
            ),
            webhook_events: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_webhook_events_total",
                        "Provider webhook events, by source (sendgrid, twilio, inbound_sms, \
                     calendly) and outcome: at the API accepted, duplicate, rejected, \
                     unavailable; in the inbox consumer processed, unmatched, retried, \
                     dead_lettered.",
                    ),
                    &["source", "outcome"],
                ),
            ),
            sends_deferred: family(
                r,
                f,
                IntCounterVec::new(
                    Opts::new(
                        "rex_sends_deferred_total",
                        "Sends put off to a later time, by reason (send_window, sms_quiet_hours, mailbox_daily_cap, channel_hourly_cap).",
                    ),
                    &["reason"],
                ),
            ),
            domain_health: family(
                r,
                f,
                IntGaugeVec::new(
                    Opts::new(
                        "rex_sending_domain_health",
                        "1 for a sending domain's current health tier, 0 for the other tiers.",
                    ),
                    &["domain", "tier"],
                ),
            ),
            domain_bounce_rate: family(
                r,
                f,
                GaugeVec::new(
                    Opts::new(
                        "rex_sending_domain_bounce_rate",
                        "Bounce rate of a sending domain (0..1).",
                    ),
                    &["domain"],
                ),
            ),
            domain_complaint_rate: family(
                r,
                f,
                GaugeVec::new(
                    Opts::new(
                        "rex_sending_domain_complaint_rate",
                        "Spam-complaint rate of a sending domain (0..1).",
                    ),
                    &["domain"],
                ),
            ),
            agents: BoundedLabel::new("agent", 64),
            actions: BoundedLabel::new("action", 256),
            workflows: BoundedLabel::new("workflow", 128),
            states: BoundedLabel::new("state", 32),
            providers: BoundedLabel::new("provider", 32),
            operations: BoundedLabel::new("operation", 128),
            error_kinds: BoundedLabel::new("kind", 64),
            cost_units: BoundedLabel::new("unit", 16),
            reasons: BoundedLabel::new("reason", 64),
            // 19 catalogued rules plus the layers' defaults and fallbacks
            rules: BoundedLabel::new("rule", 64),
            domains: BoundedLabel::new("domain", 256),
            families: fams,
            registry,
        }
    }

    /// The underlying registry, to register process-specific collectors beside ours.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The name of every family this set registers, whether or not it has a sample.
    pub fn family_names(&self) -> &[String] {
        &self.families
    }

    /// Everything, in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|err| format!("# rex: cannot encode metrics: {err}\n"))
    }

    fn step_labels<'a>(&self, agent: &'a str, action: &'a str) -> [&'a str; 2] {
        [self.agents.admit(agent), self.actions.admit(action)]
    }

    /// A worker starts running an attempt.
    pub fn step_started(&self, agent: &str, action: &str) {
        self.steps_started
            .with_label_values(&self.step_labels(agent, action))
            .inc();
    }

    /// An attempt succeeded after `duration` of work.
    pub fn step_succeeded(&self, agent: &str, action: &str, duration: Duration) {
        let [agent, action] = self.step_labels(agent, action);
        self.steps_succeeded
            .with_label_values(&[agent, action])
            .inc();
        self.step_duration
            .with_label_values(&[agent, action, "succeeded"])
            .observe(duration.as_secs_f64());
    }

    /// An attempt failed; `duration` is the work done, when a worker measured it
    /// (`None` for a timeout noticed by the orchestrator).
    pub fn step_failed(
        &self,
        agent: &str,
        action: &str,
        kind: FailureKind,
        duration: Option<Duration>,
    ) {
        let [agent, action] = self.step_labels(agent, action);
        self.steps_failed
            .with_label_values(&[agent, action, kind.as_str()])
            .inc();
        if let Some(duration) = duration {
            self.step_duration
                .with_label_values(&[agent, action, "failed"])
                .observe(duration.as_secs_f64());
        }
    }

    /// The orchestrator armed a retry of a failed step.
    pub fn step_retried(&self, agent: &str, action: &str) {
        self.steps_retried
            .with_label_values(&self.step_labels(agent, action))
            .inc();
    }

    /// From the task's commit (its outbox row's creation) to a worker starting it.
    pub fn observe_dispatch_latency(&self, agent: &str, latency: Duration) {
        self.dispatch_latency
            .with_label_values(&[self.agents.admit(agent)])
            .observe(latency.as_secs_f64());
    }

    /// An attempt of `agent`'s `action` asked to run again later.
    pub fn step_deferred(&self, agent: &str, action: &str) {
        let [agent, action] = self.step_labels(agent, action);
        self.steps_deferred
            .with_label_values(&[agent, action])
            .inc();
    }

    /// A worker cancelled a running step of `agent` because its mission had ended.
    pub fn worker_step_cancelled(&self, agent: &str) {
        self.worker_steps_cancelled
            .with_label_values(&[self.agents.admit(agent)])
            .inc();
    }

    /// Messages ready in `agent`'s queue: the autoscaler's signal.
    pub fn set_queue_depth(&self, agent: &str, messages: u64) {
        self.queue_depth
            .with_label_values(&[self.agents.admit(agent)])
            .set(to_i64(messages));
    }

    /// Age of the oldest waiting task in `agent`'s queue (zero when empty).
    pub fn set_queue_oldest_age(&self, agent: &str, age: Duration) {
        self.queue_oldest_age
            .with_label_values(&[self.agents.admit(agent)])
            .set(age.as_secs_f64());
    }

    /// A dead letter of `agent`'s queue was recorded in the `dead_letters` table.
    pub fn dead_lettered(&self, agent: &str) {
        self.dead_letters
            .with_label_values(&[self.agents.admit(agent)])
            .inc();
    }

    /// Messages in `agent`'s dead-letter queue.
    pub fn set_dead_letter_queue_depth(&self, agent: &str, messages: u64) {
        self.dead_letter_queue_depth
            .with_label_values(&[self.agents.admit(agent)])
            .set(to_i64(messages));
    }

    /// Missions in `state`. Report every state each round, zeros included, so a
    /// state that emptied does not keep its last count.
    pub fn set_missions(&self, state: &str, missions: u64) {
        self.missions
            .with_label_values(&[self.states.admit(state)])
            .set(to_i64(missions));
    }

    /// Running missions that made no progress for longer than the stall threshold.
    pub fn set_missions_stalled(&self, missions: u64) {
        self.missions_stalled.set(to_i64(missions));
    }

    pub fn mission_started(&self, workflow: &str) {
        self.missions_started
            .with_label_values(&[self.workflows.admit(workflow)])
            .inc();
    }

    /// A mission reached the final `state` (`succeeded`, `failed`, `cancelled`…).
    pub fn mission_finished(&self, workflow: &str, state: &str) {
        self.missions_finished
            .with_label_values(&[self.workflows.admit(workflow), self.states.admit(state)])
            .inc();
    }

    /// Unpublished outbox rows, and the age of the oldest (`None` when there is none).
    pub fn set_outbox_backlog(&self, rows: u64, oldest: Option<Duration>) {
        self.outbox_backlog.set(to_i64(rows));
        self.outbox_oldest_age
            .set(oldest.unwrap_or_default().as_secs_f64());
    }

    /// A timer fired `lateness` after its due time.
    pub fn observe_timer_lateness(&self, lateness: Duration) {
        self.timer_lateness.observe(lateness.as_secs_f64());
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The process-wide metrics, created on first use.
pub fn metrics() -> &'static Metrics {
    static GLOBAL: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(Metrics::new);
    &GLOBAL
}

/// The process-wide metrics in the Prometheus text format: the body of `/metrics`.
pub fn render() -> String {
    metrics().render()
}

#[cfg(test)]
mod tests;
