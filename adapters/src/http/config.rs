//! Timeouts and retry settings of the shared HTTP layer.

use std::time::Duration;

/// Settings of one provider's HTTP client. Defaults suit the real APIs; tests
/// shrink the delays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Time allowed to open the TCP + TLS connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Longest silence allowed while waiting for or reading the response.
    /// Default 30 s.
    pub read_timeout: Duration,
    /// Deadline for one whole attempt. Default 60 s.
    pub request_timeout: Duration,
    /// Retries after the first attempt, on retryable failures only. Default 3.
    pub max_retries: usize,
    /// First back-off delay; it doubles per retry, with full jitter.
    /// Default 500 ms.
    pub min_backoff: Duration,
    /// Ceiling of the back-off delay. Default 20 s.
    pub max_backoff: Duration,
    /// Longest provider-requested wait (`Retry-After`, `X-RateLimit-Reset`)
    /// honoured in-process. A longer one ends the call with the error, which
    /// carries `retry_after`, so that the engine arms a durable timer instead
    /// of holding a worker. Default 60 s.
    pub max_retry_after: Duration,
    /// `User-Agent` header. Default `rex/<version>`.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            max_retries: 3,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            user_agent: concat!("rex/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl HttpConfig {
    /// Settings for LLM calls: a whole completion arrives at once, so reads
    /// may be silent for a long time.
    pub fn for_llm() -> Self {
        Self {
            read_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(180),
            ..Self::default()
        }
    }
}
