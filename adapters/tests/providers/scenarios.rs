//! The response matrix every client must handle, run against a local server
//! that checks the exact request: success, 400 with an error list, 401, 413,
//! 429 with rate-limit headers (wait, then retry), 500 then success, and a
//! timeout (retried only when repeating the call is safe).

use crate::fixtures::{capture_logs, http, received, usage};
use async_trait::async_trait;
use rex_adapters::http::HttpConfig;
use rex_adapters::{ProviderError, UsageSink};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::{MockBuilder, MockServer, ResponseTemplate};

#[async_trait]
pub trait Scenario: Sync {
    /// Matches the exact request (method, path, auth header, body fields).
    fn expected(&self) -> MockBuilder;
    fn success(&self) -> ResponseTemplate;
    /// A 400 in the provider's own error shape.
    fn bad_request(&self) -> ResponseTemplate;
    /// Text of the 400 that must reach the error message.
    fn bad_request_says(&self) -> &'static str;
    fn unauthorized(&self) -> ResponseTemplate;
    fn too_large(&self) -> ResponseTemplate;
    /// The provider's rate-limit answer, asking to wait about a second.
    fn rate_limited(&self) -> ResponseTemplate;
    /// True when repeating the call cannot cause a second side effect.
    fn idempotent(&self) -> bool;
    async fn call(
        &self,
        server: &MockServer,
        http: HttpConfig,
        usage: Arc<dyn UsageSink>,
    ) -> Result<(), ProviderError>;
}

pub async fn success(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.success())
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    s.call(&server, http(), sink).await.unwrap();
    let records = log.records();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].attempts, records[0].error), (1, None));
}

pub async fn bad_request(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.bad_request())
        .expect(1)
        .mount(&server)
        .await;
    let (guard, logs) = capture_logs();
    let err = s.call(&server, http(), usage().1).await.unwrap_err();
    drop(guard);
    assert!(
        matches!(err, ProviderError::Rejected { status: 400, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(s.bad_request_says()), "{err}");
    // the provider's message may echo the recipient; the log line must not
    let logged = logs.text();
    assert!(logged.contains("provider call failed"), "{logged}");
    assert_eq!(rex_observability::redact_pii(&logged), logged.as_str());
}

pub async fn unauthorized(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.unauthorized())
        .expect(1)
        .mount(&server)
        .await;
    let err = s.call(&server, http(), usage().1).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

pub async fn too_large(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.too_large())
        .expect(1)
        .mount(&server)
        .await;
    let err = s.call(&server, http(), usage().1).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 413, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

pub async fn rate_limited_then_success(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.rate_limited())
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    s.expected()
        .respond_with(s.success())
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    let started = Instant::now();
    s.call(&server, http(), sink).await.unwrap();
    let waited = started.elapsed();
    // The back-off alone is ≤ 50 ms here: only the header explains a wait.
    assert!(
        waited >= Duration::from_millis(900),
        "waited only {waited:?}"
    );
    assert_eq!(received(&server).await.len(), 2);
    assert_eq!(log.records()[0].attempts, 2);
}

pub async fn rate_limited_too_long_is_returned_with_retry_after(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.rate_limited())
        .mount(&server)
        .await;
    let mut config = http();
    config.max_retry_after = Duration::from_millis(100);
    let err = s.call(&server, config, usage().1).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.retry_after().is_some(), "{err:?}");
    // Not slept on in-process: the caller arms a durable timer.
    assert_eq!(received(&server).await.len(), 1);
}

pub async fn server_error_then_success(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    s.expected()
        .respond_with(s.success())
        .expect(1)
        .mount(&server)
        .await;
    let (log, sink) = usage();
    s.call(&server, http(), sink).await.unwrap();
    let record = &log.records()[0];
    assert_eq!((record.attempts, record.error), (2, None));
}

pub async fn server_errors_exhaust_the_retries(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let err = s.call(&server, http(), usage().1).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
}

pub async fn timeout(s: &impl Scenario) {
    let server = MockServer::start().await;
    s.expected()
        .respond_with(s.success().set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let err = s.call(&server, http(), usage().1).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    let attempts = received(&server).await.len();
    if s.idempotent() {
        assert_eq!(attempts, 4, "an idempotent call is retried after a timeout");
    } else {
        // A send may have gone through: never repeat it blindly.
        assert_eq!(attempts, 1);
        assert!(err.outcome_unknown());
        assert!(!err.is_retryable());
    }
}

/// The whole matrix for one scenario value.
#[macro_export]
macro_rules! response_matrix {
    ($scenario:expr) => {
        #[tokio::test]
        async fn a_success_is_read() {
            $crate::scenarios::success(&$scenario).await;
        }
        #[tokio::test]
        async fn a_400_with_an_error_list_is_permanent() {
            $crate::scenarios::bad_request(&$scenario).await;
        }
        #[tokio::test]
        async fn a_401_is_unauthorized_and_not_retried() {
            $crate::scenarios::unauthorized(&$scenario).await;
        }
        #[tokio::test]
        async fn a_413_is_rejected_and_not_retried() {
            $crate::scenarios::too_large(&$scenario).await;
        }
        #[tokio::test]
        async fn a_429_waits_as_told_then_retries() {
            $crate::scenarios::rate_limited_then_success(&$scenario).await;
        }
        #[tokio::test]
        async fn a_429_asking_for_too_long_a_wait_is_handed_back() {
            $crate::scenarios::rate_limited_too_long_is_returned_with_retry_after(&$scenario).await;
        }
        #[tokio::test]
        async fn a_500_then_success_succeeds() {
            $crate::scenarios::server_error_then_success(&$scenario).await;
        }
        #[tokio::test]
        async fn persistent_503s_exhaust_the_retries() {
            $crate::scenarios::server_errors_exhaust_the_retries(&$scenario).await;
        }
        #[tokio::test]
        async fn a_timeout_is_retried_only_when_safe() {
            $crate::scenarios::timeout(&$scenario).await;
        }
    };
}
