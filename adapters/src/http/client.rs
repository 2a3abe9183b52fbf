//! [`HttpClient`]: the one place that sends HTTP requests to providers.

use super::config::HttpConfig;
use super::request::{ApiRequest, Auth, Method};
use super::retry::retry_after_from_headers;
use crate::error::{FieldError, ProviderError};
use crate::provider::Provider;
use crate::usage::{Cost, SharedUsageSink, Usage};
use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;
use url::Url;

/// Provider error bodies are capped at this many characters in our errors.
const MAX_MESSAGE_CHARS: usize = 500;

/// A provider's error body, read by its [`ErrorPolicy::parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: Option<String>,
    pub message: String,
    pub fields: Vec<FieldError>,
}

/// What a non-success answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    RateLimited,
    Unavailable,
    Rejected,
    Unauthorized,
    QuotaExhausted,
    RecipientOptedOut,
}

impl ErrorClass {
    /// The usual meaning of an HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            429 => ErrorClass::RateLimited,
            408 | 500..=599 => ErrorClass::Unavailable,
            401 | 403 => ErrorClass::Unauthorized,
            _ => ErrorClass::Rejected,
        }
    }
}

/// How one provider reports errors.
#[derive(Clone, Copy, Debug)]
pub struct ErrorPolicy {
    /// Reads the provider's error JSON; must not panic on any bytes.
    pub parse: fn(&[u8]) -> ErrorBody,
    /// Maps a status and error body to a class; most providers use
    /// [`ErrorClass::from_status`].
    pub classify: fn(u16, &ErrorBody) -> ErrorClass,
    /// 2xx statuses that mean "not ready yet, ask again" (Hunter's 202).
    pub pending_statuses: &'static [u16],
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json<T: DeserializeOwned>(&self, provider: Provider) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::invalid_response(provider, format!("cannot read the json body: {e}"))
        })
    }
}

/// A provider's HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    config: HttpConfig,
    provider: Provider,
    base_url: Url,
    policy: ErrorPolicy,
    usage: SharedUsageSink,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    pub fn new(
        provider: Provider,
        base_url: Url,
        config: HttpConfig,
        policy: ErrorPolicy,
        usage: SharedUsageSink,
    ) -> Result<Self, ProviderError> {
        let inner = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| ProviderError::NotConfigured {
                provider,
                what: format!("http client: {}", e.without_url()),
            })?;
        Ok(Self {
            inner,
            config,
            provider,
            base_url,
            policy,
            usage,
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    pub fn usage_sink(&self) -> &SharedUsageSink {
        &self.usage
    }

    /// Sends `request` (retrying as configured), hands the answer to `read`,
    /// and records a span and one [`Usage`] with the cost `read` reports.
    pub async fn call<T>(
        &self,
        request: &ApiRequest,
        auth: &Auth,
        read: impl FnOnce(&Exchange) -> Result<(T, Cost), ProviderError>,
    ) -> Result<T, ProviderError> {
        let span = tracing::info_span!(
            "provider_call",
            otel.kind = "client",
            provider = %self.provider,
            operation = request.operation,
            http.request.method = request.method.as_str(),
            url.path = %request.path,
            attempts = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            error = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let attempts = AtomicU32::new(0);
            let last_status = Mutex::new(None);
            let result = self
                .send_with_retries(request, auth, &attempts, &last_status)
                .await
                .and_then(|exchange| read(&exchange));
            let attempts = attempts.load(Ordering::Relaxed);
            let status = *last_status.lock().unwrap_or_else(|p| p.into_inner());
            let span = tracing::Span::current();
            span.record("attempts", attempts);
            if let Some(status) = status {
                span.record("http.response.status_code", status);
            }
            let (cost, error, out) = match result {
                Ok((value, cost)) => (cost, None, Ok(value)),
                Err(e) => {
                    span.record("error", e.kind());
                    // a provider's message may echo the recipient ("Invalid 'To' Phone
                    // Number: +1415…"): never into the logs
                    let error = rex_observability::redact_pii(&e.to_string()).into_owned();
                    tracing::warn!(%error, "provider call failed");
                    (Cost::default(), Some(e.kind()), Err(e))
                }
            };
            self.usage.record(Usage {
                provider: self.provider,
                operation: request.operation,
                attempts,
                status,
                error,
                latency: started.elapsed(),
                cost,
                dry_run: false,
            });
            out
        }
        .instrument(span)
        .await
    }

    async fn send_with_retries(
        &self,
        request: &ApiRequest,
        auth: &Auth,
        attempts: &AtomicU32,
        last_status: &Mutex<Option<u16>>,
    ) -> Result<Exchange, ProviderError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.min_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_max_times(self.config.max_retries)
            .with_jitter();
        let max_retry_after = self.config.max_retry_after;
        (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(request, auth, last_status).await
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(ProviderError::is_retryable)
        .adjust(move |error, backoff_delay| {
            // `None` from the back-off means the retries are used up.
            let delay = backoff_delay?;
            match error.retry_after() {
                // Too long to hold a worker: give the error (with its
                // retry_after) back so the caller arms a durable timer.
                Some(wait) if wait > max_retry_after => None,
                Some(wait) => Some(wait.max(delay)),
                None => Some(delay),
            }
        })
        .notify(|error, delay| {
            let error = rex_observability::redact_pii(&error.to_string()).into_owned();
            tracing::info!(%error, wait_ms = delay.as_millis() as u64, "retrying");
        })
        .await
    }

    async fn attempt(
        &self,
        request: &ApiRequest,
        auth: &Auth,
        last_status: &Mutex<Option<u16>>,
    ) -> Result<Exchange, ProviderError> {
        let url = request.url(&self.base_url)?;
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .inner
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder = match auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
            Auth::Basic { user, password } => builder.basic_auth(user, Some(password.expose())),
            Auth::Header { name, value } => {
                let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                    ProviderError::NotConfigured {
                        provider: self.provider,
                        what: format!("the api key for header {name} has invalid characters"),
                    }
                })?;
                value.set_sensitive(true);
                builder.header(*name, value)
            }
        };
        if let Some((content_type, bytes)) = request.encoded_body() {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }

        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_error(e, request))?;
        let status = response.status().as_u16();
        *last_status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e, request))?
            .to_vec();
        let retry_after = retry_after_from_headers(
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            Utc::now(),
        );

        if self.policy.pending_statuses.contains(&status) {
            return Err(ProviderError::Pending {
                provider: self.provider,
                retry_after,
            });
        }
        if (200..300).contains(&status) {
            return Ok(Exchange {
                status,
                headers,
                body,
            });
        }
        Err(self.status_error(status, &body, retry_after, auth))
    }

    fn status_error(
        &self,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        auth: &Auth,
    ) -> ProviderError {
        let mut parsed = (self.policy.parse)(body);
        if parsed.message.trim().is_empty() {
            parsed.message = if body.is_empty() {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no reason given")
                    .to_lowercase()
            } else {
                String::from_utf8_lossy(body).into_owned()
            };
        }
        let message = clip(&auth.scrub(&parsed.message));
        let fields = parsed
            .fields
            .iter()
            .map(|f| FieldError {
                field: f.field.as_deref().map(|x| clip(&auth.scrub(x))),
                message: clip(&auth.scrub(&f.message)),
            })
            .collect();
        let code = parsed.code.as_deref().map(|c| clip(&auth.scrub(c)));
        let provider = self.provider;
        match (self.policy.classify)(status, &parsed) {
            ErrorClass::RateLimited => ProviderError::RateLimited {
                provider,
                status,
                code,
                message,
                retry_after,
            },
            ErrorClass::Unavailable => ProviderError::Unavailable {
                provider,
                status,
                code,
                message,
                retry_after,
            },
            ErrorClass::Rejected => ProviderError::Rejected {
                provider,
                status,
                code,
                message,
                fields,
            },
            ErrorClass::Unauthorized => ProviderError::Unauthorized { provider, status },
            ErrorClass::QuotaExhausted => ProviderError::QuotaExhausted {
                provider,
                status,
                message,
            },
            ErrorClass::RecipientOptedOut => ProviderError::RecipientOptedOut {
                provider,
                code: code.unwrap_or_default(),
                message,
            },
        }
    }

    fn transport_error(&self, error: reqwest::Error, request: &ApiRequest) -> ProviderError {
        // Never keep the URL: some providers put keys in query strings.
        let error = error.without_url();
        let provider = self.provider;
        if error.is_connect() {
            ProviderError::Connect {
                provider,
                detail: error_chain(&error),
            }
        } else if error.is_timeout() {
            ProviderError::Timeout {
                provider,
                after: self.config.read_timeout.min(self.config.request_timeout),
                outcome_unknown: !request.idempotent,
            }
        } else {
            ProviderError::Interrupted {
                provider,
                detail: error_chain(&error),
                outcome_unknown: !request.idempotent,
            }
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    clip(&text)
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
