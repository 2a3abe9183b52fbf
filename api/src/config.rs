//! What an operator can tune on the API.

use std::time::Duration;

/// The API's settings. `Default` is what `rex api` runs with when nothing is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Requests per minute each API key may make, as a token bucket that refills
    /// continuously (bursts up to the same number), shared by every replica serving on
    /// the same database (`ratelimit` module). 0 disables the limit. Default 100.
    pub rate_limit_per_minute: u32,
    /// How often a serving API adds the requests it let through to the keys' shared
    /// buckets and reads back what every replica took (`ratelimit` module). Default
    /// 250 ms: replicas together may let a key through this long before they see it.
    pub rate_limit_sync: Duration,
    /// Largest request body accepted, in bytes; larger answers 413. Default 2 MiB
    /// (a definition may be up to 1 MiB of text, and JSON escapes it).
    pub body_limit: usize,
    /// Deepest nesting of arrays and objects accepted in a JSON body; deeper answers
    /// 413. Default 64.
    pub max_json_depth: usize,
    /// Origins allowed to call the API from a browser (`https://app.example.com`, or
    /// `*` for any). Empty (the default) sends no CORS headers: same-origin only.
    pub cors_origins: Vec<String>,
    /// Whether clients reach the API over TLS (directly or through a terminating
    /// proxy): then responses carry `Strict-Transport-Security`. Default false, since
    /// HSTS on a plain-HTTP development server would break it for the browser.
    pub behind_tls: bool,
    /// How often a live event stream re-reads its mission from the database, to see
    /// transitions committed by other processes (the orchestrator). Default 500 ms.
    pub events_poll: Duration,
    /// Largest page of a listing; default 100 (and the page size when none is asked).
    pub max_page: u64,
    /// The agents this deployment runs: `GET /v1/agents` always lists them, with any
    /// other agent that has work or recent attempts. Default none.
    pub agents: Vec<String>,
    /// How long a valid API key is remembered without reading it again: a key revoked
    /// elsewhere keeps working this long in a running API. Zero reads every request.
    /// Default 10 s.
    pub key_cache_ttl: Duration,
    /// The HMAC key of one-click unsubscribe tokens (`REX_UNSUBSCRIBE_SECRET`, the same
    /// as the agents sign with). Default [`rex_domain::unsubscribe::DEV_SECRET`], for
    /// development only: `rex api` should refuse it in production.
    pub unsubscribe_secret: rex_domain::unsubscribe::SigningKey,
    /// Most rows one `POST /v1/leads/import` may carry; more answers 413. Default
    /// 10 000 (a body is also bounded by `body_limit`).
    pub max_import_rows: usize,
    /// The base URL providers call the API at (`REX_PUBLIC_URL`, e.g.
    /// `https://rex.example.com`): Twilio signs the full URL it called, which behind a
    /// proxy differs from what the server sees. `None`: `Host` and the scheme.
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 100,
            rate_limit_sync: Duration::from_millis(250),
            body_limit: 2 * 1024 * 1024,
            max_json_depth: 64,
            cors_origins: Vec::new(),
            behind_tls: false,
            events_poll: Duration::from_millis(500),
            max_page: 100,
            agents: Vec::new(),
            key_cache_ttl: Duration::from_secs(10),
            unsubscribe_secret: rex_domain::unsubscribe::SigningKey::development(),
            max_import_rows: 10_000,
            public_url: None,
        }
    }
}
