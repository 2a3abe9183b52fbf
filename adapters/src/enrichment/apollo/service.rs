//! The live Apollo client.

use super::config::ApolloConfig;
use super::request::{BulkEnvelope, MatchEnvelope, build_bulk_match, build_match, person_contact};
use crate::clock::{Clock, SystemClock};
use crate::dry_run::{Delivery, Mode};
use crate::enrichment::{Contact, EnrichmentProvider, Lookup, PersonQuery};
use crate::error::ProviderError;
use crate::http::{Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::usage::{Cost, Credits, SharedUsageSink};
use async_trait::async_trait;
use serde::Deserialize;
use std::sync::Arc;

/// One credit per match that returns a person.
pub const MATCH_CREDITS: Credits = Credits::whole(1);
/// Eight more when a mobile number comes back.
pub const MOBILE_PHONE_CREDITS: Credits = Credits::whole(8);

/// `{"error": "..."}`, sometimes `{"message": "..."}` and an `error_code`.
#[derive(Deserialize)]
struct ApolloError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<ApolloError>(body) {
        Ok(e) => ErrorBody {
            code: e.error_code,
            message: e.error.or(e.message).unwrap_or_default(),
            fields: Vec::new(),
        },
        Err(_) => ErrorBody::default(),
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify: |status, _| ErrorClass::from_status(status),
    pending_statuses: &[],
};

fn cost_of(found: bool, has_phone: bool) -> Credits {
    match (found, has_phone) {
        (false, _) => Credits::ZERO,
        (true, false) => MATCH_CREDITS,
        (true, true) => MATCH_CREDITS + MOBILE_PHONE_CREDITS,
    }
}

#[derive(Clone)]
pub struct ApolloClient {
    http: HttpClient,
    auth: Auth,
    reveal_phone: bool,
    clock: Arc<dyn Clock>,
}

impl ApolloClient {
    pub fn new(config: ApolloConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Apollo,
            config.base_url,
            config.http,
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: Auth::Header {
                name: "x-api-key",
                value: config.api_key,
            },
            reveal_phone: config.reveal_phone,
            clock: Arc::new(SystemClock),
        })
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Matches many people, ten per request; one [`Lookup`] per query, in
    /// order. Stops at the first failed request.
    pub async fn bulk_lookup(&self, queries: &[PersonQuery]) -> Result<Vec<Lookup>, ProviderError> {
        let requests = build_bulk_match(queries, self.reveal_phone)?;
        let now = self.clock.now();
        let mut lookups = Vec::with_capacity(queries.len());
        for (request, chunk) in requests.iter().zip(queries.chunks(super::MAX_BULK_MATCH)) {
            let batch: Vec<Lookup> = self
                .http
                .call(request, &self.auth, |exchange| {
                    let envelope: BulkEnvelope = exchange.json(Provider::Apollo)?;
                    let mut matches = envelope.matches.into_iter();
                    let mut total = Credits::ZERO;
                    let batch: Vec<Lookup> = chunk
                        .iter()
                        .map(|_| {
                            let (contact, cost) = match matches.next().flatten() {
                                Some(person) => {
                                    let (contact, phone) = person_contact(person, now);
                                    (contact, cost_of(true, phone))
                                }
                                None => (Contact::default(), Credits::ZERO),
                            };
                            total += cost;
                            Lookup {
                                contact,
                                cost,
                                delivery: Delivery::Sent,
                            }
                        })
                        .collect();
                    Ok((
                        batch,
                        Cost {
                            credits: total,
                            ..Cost::default()
                        },
                    ))
                })
                .await?;
            lookups.extend(batch);
        }
        Ok(lookups)
    }
}

impl std::fmt::Debug for ApolloClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApolloClient")
            .field("http", &self.http)
            .field("reveal_phone", &self.reveal_phone)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EnrichmentProvider for ApolloClient {
    fn source(&self) -> Provider {
        Provider::Apollo
    }

    fn mode(&self) -> Mode {
        Mode::Live
    }

    fn max_cost(&self) -> Credits {
        if self.reveal_phone {
            MATCH_CREDITS + MOBILE_PHONE_CREDITS
        } else {
            MATCH_CREDITS
        }
    }

    async fn lookup(&self, query: &PersonQuery) -> Result<Lookup, ProviderError> {
        let request = build_match(query, self.reveal_phone)?;
        let now = self.clock.now();
        self.http
            .call(&request, &self.auth, |exchange| {
                let envelope: MatchEnvelope = exchange.json(Provider::Apollo)?;
                let (contact, cost) = match envelope.person {
                    Some(person) => {
                        let (contact, phone) = person_contact(person, now);
                        (contact, cost_of(true, phone))
                    }
                    None => (Contact::default(), Credits::ZERO),
                };
                Ok((
                    Lookup {
                        contact,
                        cost,
                        delivery: Delivery::Sent,
                    },
                    Cost {
                        credits: cost,
                        ..Cost::default()
                    },
                ))
            })
            .await
    }
}
