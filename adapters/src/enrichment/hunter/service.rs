//! The live Hunter client.

use super::config::HunterConfig;
use super::request::{
    Envelope, FinderData, VerifierData, build_find, build_verify, finder_contact,
};
use crate::clock::{Clock, SystemClock};
use crate::dry_run::{Delivery, Mode};
use crate::enrichment::{
    EmailStatus, EmailVerifier, EnrichmentProvider, Lookup, PersonQuery, Sourced, Verification,
};
use crate::error::ProviderError;
use crate::http::{Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::usage::{Cost, Credits, SharedUsageSink};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

/// An email-finder lookup costs one credit when it finds an address.
pub const FINDER_CREDITS: Credits = Credits::whole(1);
/// A verification costs half a credit.
pub const VERIFIER_CREDITS: Credits = Credits::from_millis(500);

/// `{"errors": [{"id": "wrong_params", "code": 400, "details": "..."}]}`
#[derive(Deserialize)]
struct HunterErrors {
    #[serde(default)]
    errors: Vec<HunterError>,
}

#[derive(Deserialize)]
struct HunterError {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    details: Option<String>,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(parsed) = serde_json::from_slice::<HunterErrors>(body) else {
        return ErrorBody::default();
    };
    let code = parsed.errors.iter().find_map(|e| e.id.clone());
    let message = parsed
        .errors
        .into_iter()
        .filter_map(|e| e.details)
        .collect::<Vec<_>>()
        .join("; ");
    ErrorBody {
        code,
        message,
        fields: Vec::new(),
    }
}

fn classify(status: u16, _: &ErrorBody) -> ErrorClass {
    match status {
        // Hunter: 403 is the per-second rate limit, 429 the plan's quota.
        403 => ErrorClass::RateLimited,
        429 => ErrorClass::QuotaExhausted,
        other => ErrorClass::from_status(other),
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify,
    // 202: verification still running; 222: the remote SMTP server gave an
    // unexpected answer. Both: ask again later, at no extra charge.
    pending_statuses: &[202, 222],
};

#[derive(Clone)]
pub struct HunterClient {
    http: HttpClient,
    auth: Auth,
    clock: Arc<dyn Clock>,
}

impl HunterClient {
    pub fn new(config: HunterConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Hunter,
            config.base_url,
            config.http,
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: Auth::Header {
                name: "X-API-KEY",
                value: config.api_key,
            },
            clock: Arc::new(SystemClock),
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl std::fmt::Debug for HunterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HunterClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EnrichmentProvider for HunterClient {
    fn source(&self) -> Provider {
        Provider::Hunter
    }

    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn max_cost(&self) -> Credits {
        FINDER_CREDITS
    }

    async fn lookup(&self, query: &PersonQuery) -> Result<Lookup, ProviderError> {
        let request = build_find(query)?;
        let now = self.clock.now();
        let contact = self
            .http
            .call(&request, &self.auth, |exchange| {
                let envelope: Envelope<FinderData> = exchange.json(Provider::Hunter)?;
                let contact = finder_contact(envelope.data, now);
                let credits = if contact.email.is_some() {
                    FINDER_CREDITS
                } else {
                    Credits::ZERO
                };
                Ok((
                    contact,
                    Cost {
                        credits,
                        ..Cost::default()
                    },
                ))
            })
            .await;
        let contact = match contact {
            Ok(contact) => contact,
            // Hunter answers 404 when it has no candidate at all.
            Err(ProviderError::Rejected { status: 404, .. }) => Default::default(),
            Err(e) => return Err(e),
        };
        let cost = if contact.email.is_some() {
            FINDER_CREDITS
        } else {
            Credits::ZERO
        };
        Ok(Lookup {
            contact,
            cost,
            delivery: Delivery::Sent,
        })
    }
}

#[async_trait]
impl EmailVerifier for HunterClient {
    fn source(&self) -> Provider {
        Provider::Hunter
    }

    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn cost(&self) -> Credits {
        VERIFIER_CREDITS
    }

    async fn verify(&self, email: &str) -> Result<Verification, ProviderError> {
        let request = build_verify(email)?;
        let now = self.clock.now();
        let data: VerifierData = self
            .http
            .call(&request, &self.auth, |exchange| {
                let envelope: Envelope<VerifierData> = exchange.json(Provider::Hunter)?;
                Ok((
                    envelope.data,
                    Cost {
                        credits: VERIFIER_CREDITS,
                        ..Cost::default()
                    },
                ))
            })
            .await?;
        Ok(Verification {
            status: Sourced::new(EmailStatus::parse(&data.status), Provider::Hunter, now),
            score: data.score,
            cost: VERIFIER_CREDITS,
            delivery: Delivery::Sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunter_403_is_a_rate_limit_and_429_a_used_up_quota() {
        let body = parse_error(br#"{"errors":[{"id":"too_many_requests","code":429,"details":"You have reached your monthly quota"}]}"#);
        assert_eq!(body.code.as_deref(), Some("too_many_requests"));
        assert_eq!(classify(429, &body), ErrorClass::QuotaExhausted);
        assert_eq!(classify(403, &body), ErrorClass::RateLimited);
        assert_eq!(classify(401, &body), ErrorClass::Unauthorized);
    }
}
