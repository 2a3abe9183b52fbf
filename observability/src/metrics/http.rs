//! HTTP metrics of a process that serves an API: requests by method, route template
//! and status, and their latency. Registered in the process registry on first use, so
//! a process without an HTTP API (a worker) exports none of them.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

use super::labels::BoundedLabel;
use super::metrics;

/// From a cached read (sub-millisecond) to a slow mission start under load.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route of a request that matched none.
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    routes: BoundedLabel,
    methods: BoundedLabel,
}

/// The process's HTTP metrics, registered beside [`metrics()`]'s on first call.
pub fn http_metrics() -> &'static HttpMetrics {
    static HTTP: OnceLock<HttpMetrics> = OnceLock::new();
    HTTP.get_or_init(|| HttpMetrics::register(metrics().registry()))
}

impl HttpMetrics {
    /// Builds the families and registers them in `registry`.
    pub fn register(registry: &prometheus::Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "rex_http_requests_total",
                "HTTP requests answered, by method, route template (e.g. /v1/missions/{id}) \
                 and status code.",
            ),
            &["method", "route", "status"],
        )
        .expect("a valid metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "rex_http_request_duration_seconds",
                "Time from a request's arrival to its answer's headers, by method and route \
                 template.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("a valid metric definition");
        // registering twice (a second registry of the same process) is not an error here
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(duration.clone()));
        Self {
            requests,
            duration,
            routes: BoundedLabel::new("route", 128),
            methods: BoundedLabel::new("method", 16),
        }
    }

    /// One answered request. `route` is the matched template, never the raw path (ids
    /// in paths would make a series per resource); [`UNMATCHED`] when none matched.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = self.methods.admit(method);
        let route = self.routes.admit(route);
        let status = status.to_string();
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_status() {
        let registry = prometheus::Registry::new();
        let m = HttpMetrics::register(&registry);
        m.observe("GET", "/v1/missions/{id}", 200, Duration::from_millis(1));
        m.observe("GET", "/v1/missions/{id}", 200, Duration::from_millis(3));
        m.observe("POST", "/v1/missions", 422, Duration::from_millis(2));
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(
            text.contains(
                "rex_http_requests_total{method=\"GET\",route=\"/v1/missions/{id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "rex_http_requests_total{method=\"POST\",route=\"/v1/missions\",status=\"422\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "rex_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/missions/{id}\"} 2"
            ),
            "{text}"
        );
    }
}
