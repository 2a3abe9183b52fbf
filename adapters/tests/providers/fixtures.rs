//! Shared helpers: fast HTTP settings, matchers for form bodies, access to
//! what the local server received.

use rex_adapters::http::HttpConfig;
use rex_adapters::{UsageLog, UsageSink};
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use wiremock::{Match, MockServer, Request};

/// Short timeouts and back-offs so the suite runs in seconds.
pub fn http() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(2),
        max_retries: 3,
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        user_agent: "rex-test".into(),
    }
}

pub fn base_url(server: &MockServer) -> Url {
    Url::parse(&server.uri()).unwrap()
}

pub fn usage() -> (UsageLog, Arc<dyn UsageSink>) {
    let log = UsageLog::new();
    (log.clone(), Arc::new(log))
}

pub async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

/// Matches a form-encoded body holding exactly these pairs (any order).
pub struct FormIs(pub Vec<(String, String)>);

impl Match for FormIs {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
            .into_owned()
            .collect();
        let mut want = self.0.clone();
        got.sort();
        want.sort();
        got == want
    }
}

pub fn form_is(pairs: &[(&str, &str)]) -> FormIs {
    FormIs(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// A unix time `secs` from now, as SendGrid's `X-RateLimit-Reset` sends it.
pub fn reset_in(secs: i64) -> String {
    (chrono::Utc::now().timestamp() + secs).to_string()
}

/// Everything logged at info and above on this thread while the guard lives (a
/// `#[tokio::test]` runs its futures on the thread that calls this).
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, Logs) {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

#[derive(Clone, Default)]
pub struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
