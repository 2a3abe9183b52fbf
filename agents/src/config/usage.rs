//! The agents' default [`UsageSink`]: every provider call's [`Usage`] becomes the
//! `rex_provider_*` metrics (calls by outcome, latency, cost in each unit).

use std::sync::Arc;

use rex_adapters::{Usage, UsageSink};
use rex_observability::{Metrics, ProviderOutcome};

/// Records each [`Usage`] into the metrics, then hands it to the next sink, if any
/// (the CLI's cost summary keeps a `UsageLog`).
///
/// Error kinds are not counted here: `rex_provider_errors_total` is fed where the
/// error is handled (outreach), and counting it twice would double the series.
#[derive(Clone)]
pub struct MetricsUsage {
    metrics: &'static Metrics,
    next: Option<Arc<dyn UsageSink>>,
}

impl MetricsUsage {
    /// Into the process-wide metrics.
    pub fn new() -> Self {
        Self {
            metrics: rex_observability::metrics(),
            next: None,
        }
    }

    /// Into `metrics` instead of the process-wide ones: a test reads exact values
    /// from a registry no other test shares.
    pub fn recording_into(metrics: &'static Metrics) -> Self {
        Self {
            metrics,
            next: None,
        }
    }

    /// Also hands every record to `next`, after counting it.
    pub fn then(mut self, next: Arc<dyn UsageSink>) -> Self {
        self.next = Some(next);
        self
    }
}

impl Default for MetricsUsage {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MetricsUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsUsage")
            .field("next", &self.next.is_some())
            .finish_non_exhaustive()
    }
}

/// The outcome label: a dry run first, whatever else the record says, so a dashboard
/// never counts one as a delivery.
fn outcome(usage: &Usage) -> ProviderOutcome {
    if usage.dry_run {
        ProviderOutcome::DryRun
    } else if usage.error.is_some() {
        ProviderOutcome::Error
    } else {
        ProviderOutcome::Ok
    }
}

impl UsageSink for MetricsUsage {
    fn record(&self, usage: Usage) {
        let cost = usage.cost;
        let costs = [
            ("emails", f64::from(cost.emails)),
            ("sms_segments", f64::from(cost.sms_segments)),
            // thousandths: Hunter's half credits stay exact
            ("credits", f64::from(cost.credits.millis()) / 1000.0),
            ("prompt_tokens", f64::from(cost.prompt_tokens)),
            ("completion_tokens", f64::from(cost.completion_tokens)),
        ];
        // zero amounts are skipped by the registry: no series for units a provider
        // does not bill in
        self.metrics.provider_call(
            usage.provider.as_str(),
            usage.operation,
            outcome(&usage),
            usage.latency,
            &costs,
        );
        if let Some(next) = &self.next {
            next.record(usage);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rex_adapters::{Cost, Credits, Provider, UsageLog};

    use super::*;

    fn sink() -> (MetricsUsage, &'static Metrics) {
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        let sink = MetricsUsage {
            metrics,
            next: None,
        };
        (sink, metrics)
    }

    fn usage(provider: Provider, operation: &'static str) -> Usage {
        Usage {
            provider,
            operation,
            attempts: 1,
            status: Some(200),
            error: None,
            latency: Duration::from_millis(400),
            cost: Cost::default(),
            dry_run: false,
        }
    }

    /// The value of the sample `name{labels}`, as rendered.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let prefix = format!("{name}{{{labels}}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .map(|v| v.trim().parse().expect("a number"))
    }

    #[test]
    fn a_usage_record_becomes_calls_latency_and_cost() {
        let (sink, metrics) = sink();
        sink.record(Usage {
            cost: Cost {
                credits: Credits::from_millis(1500),
                ..Cost::default()
            },
            ..usage(Provider::Hunter, "email_finder")
        });
        sink.record(Usage {
            error: Some("rate_limited"),
            status: Some(429),
            attempts: 3,
            latency: Duration::from_secs(2),
            ..usage(Provider::Hunter, "email_finder")
        });
        sink.record(Usage {
            cost: Cost {
                prompt_tokens: 1000,
                completion_tokens: 250,
                ..Cost::default()
            },
            ..usage(Provider::Llm, "chat_completion")
        });
        let text = metrics.render();
        let calls = |labels: &str| sample(&text, "rex_provider_calls_total", labels);
        let hunter = r#"operation="email_finder""#;
        assert_eq!(
            calls(&format!(r#"{hunter},outcome="ok",provider="hunter""#)),
            Some(1.0)
        );
        assert_eq!(
            calls(&format!(r#"{hunter},outcome="error",provider="hunter""#)),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "rex_provider_call_duration_seconds_sum",
                &format!(r#"{hunter},provider="hunter""#)
            ),
            Some(2.4)
        );
        let cost = |labels: &str| sample(&text, "rex_provider_cost_total", labels);
        assert_eq!(cost(r#"provider="hunter",unit="credits""#), Some(1.5));
        assert_eq!(cost(r#"provider="llm",unit="prompt_tokens""#), Some(1000.0));
        assert_eq!(
            cost(r#"provider="llm",unit="completion_tokens""#),
            Some(250.0)
        );
        // units a provider does not bill in get no series
        assert_eq!(cost(r#"provider="hunter",unit="emails""#), None);
    }

    #[test]
    fn a_dry_run_is_counted_apart_and_never_as_a_delivery() {
        let (sink, metrics) = sink();
        sink.record(Usage {
            dry_run: true,
            attempts: 0,
            status: None,
            latency: Duration::ZERO,
            cost: Cost {
                emails: 1,
                ..Cost::default()
            },
            ..usage(Provider::SendGrid, "send")
        });
        let text = metrics.render();
        let labels = r#"operation="send",outcome="dry_run",provider="sendgrid""#;
        assert_eq!(sample(&text, "rex_provider_calls_total", labels), Some(1.0));
        assert!(!text.contains(r#"outcome="ok""#), "{text}");
        assert!(!text.contains("rex_provider_cost_total{"), "{text}");
        assert!(
            !text.contains("rex_provider_call_duration_seconds_count{"),
            "{text}"
        );
    }

    #[test]
    fn every_record_is_handed_on_after_it_is_counted() {
        let (sink, metrics) = sink();
        let log = UsageLog::new();
        let sink = sink.then(Arc::new(log.clone()));
        sink.record(usage(Provider::Twilio, "send_sms"));
        assert_eq!(log.records().len(), 1);
        assert!(metrics.render().contains(r#"provider="twilio""#));
    }
}
