//! The outreach side's recorders: provider calls and their cost, decisions,
//! suppressions, webhook intake, deferred sends, and each sending domain's health.

use std::time::Duration;

use super::*;

impl Metrics {
    /// One call to a provider (all its HTTP attempts together) that took `duration`
    /// and cost `costs`, each an amount in a unit (`emails`, `credits`…; see
    /// [`Metrics::provider_cost`]). A call may cost in several units (an LLM call in
    /// prompt and completion tokens). A dry run is counted but neither timed (its
    /// zero latency would drag the real calls' quantiles down) nor costed.
    pub fn provider_call(
        &self,
        provider: &str,
        operation: &str,
        outcome: ProviderOutcome,
        duration: Duration,
        costs: &[(&str, f64)],
    ) {
        let provider = self.providers.admit(provider);
        let operation = self.operations.admit(operation);
        self.provider_calls
            .with_label_values(&[provider, operation, outcome.as_str()])
            .inc();
        if outcome == ProviderOutcome::DryRun {
            return;
        }
        self.provider_call_duration
            .with_label_values(&[provider, operation])
            .observe(duration.as_secs_f64());
        for &(unit, amount) in costs {
            self.provider_cost(provider, unit, amount);
        }
    }

    /// A provider call that failed; `kind` is the error's stable kind (`timeout`,
    /// `rate_limited`, `rejected`…), never its message.
    pub fn provider_error(&self, provider: &str, operation: &str, kind: &str) {
        self.provider_errors
            .with_label_values(&[
                self.providers.admit(provider),
                self.operations.admit(operation),
                self.error_kinds.admit(kind),
            ])
            .inc();
    }

    /// Adds `amount` of `unit` to what `provider` cost. Negative or non-finite
    /// amounts are ignored (a counter never goes down).
    pub fn provider_cost(&self, provider: &str, unit: &str, amount: f64) {
        if amount.is_finite() && amount > 0.0 {
            self.provider_cost
                .with_label_values(&[self.providers.admit(provider), self.cost_units.admit(unit)])
                .inc_by(amount);
        }
    }

    /// One decision taken by `layer` under the named `rule` (`suppress_on_sms_stop`,
    /// `llm_reasoner`, `all_gates_passed`…; bounded like every free-form label).
    pub fn decision(&self, layer: DecisionLayer, rule: &str) {
        self.decisions
            .with_label_values(&[layer.as_str(), self.rules.admit(rule)])
            .inc();
    }

    /// A send was stopped or an address suppressed for `reason` (`unsubscribe`,
    /// `stop`, `complaint`, `hard_bounce`, `objection`, `do_not_contact`…).
    pub fn suppression(&self, reason: &str) {
        self.suppressions
            .with_label_values(&[self.reasons.admit(reason)])
            .inc();
    }

    /// `count` webhook events of `source` ended with `outcome` (both from fixed sets:
    /// anything else is counted as `other`).
    pub fn webhook_events(&self, source: &str, outcome: &str, count: usize) {
        if count == 0 {
            return;
        }
        const SOURCES: [&str; 4] = ["sendgrid", "twilio", "inbound_sms", "calendly"];
        const OUTCOMES: [&str; 8] = [
            "accepted",
            "duplicate",
            "rejected",
            "unavailable",
            "processed",
            "unmatched",
            "retried",
            "dead_lettered",
        ];
        let source = if SOURCES.contains(&source) {
            source
        } else {
            "other"
        };
        let outcome = if OUTCOMES.contains(&outcome) {
            outcome
        } else {
            "other"
        };
        self.webhook_events
            .with_label_values(&[source, outcome])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// A send was put off to a later time for `reason`.
    pub fn send_deferred(&self, reason: &str) {
        self.sends_deferred
            .with_label_values(&[self.reasons.admit(reason)])
            .inc();
    }

    /// A sending domain's health: its tier and the rates it was computed from.
    pub fn set_domain_health(
        &self,
        domain: &str,
        tier: DomainTier,
        bounce_rate: f64,
        complaint_rate: f64,
    ) {
        let domain = self.domains.admit(domain);
        for t in DomainTier::ALL {
            self.domain_health
                .with_label_values(&[domain, t.as_str()])
                .set(i64::from(t == tier));
        }
        self.domain_bounce_rate
            .with_label_values(&[domain])
            .set(bounce_rate);
        self.domain_complaint_rate
            .with_label_values(&[domain])
            .set(complaint_rate);
    }
}
