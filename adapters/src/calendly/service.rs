//! The live Calendly scheduler.

use super::config::CalendlyConfig;
use super::request::{build_available_times, build_create_link, tracked_booking_url};
use crate::dry_run::{Delivery, Mode};
use crate::error::{FieldError, ProviderError};
use crate::http::{Auth, ErrorBody, ErrorClass, ErrorPolicy, HttpClient};
use crate::provider::Provider;
use crate::scheduling::{AvailableTime, BookingLink, Scheduler, validate_tracking};
use crate::usage::{Cost, SharedUsageSink};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `{"title": "Invalid Argument", "message": "...", "details": [{"parameter", "message"}]}`
#[derive(Deserialize)]
struct CalendlyError {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<CalendlyDetail>,
}

#[derive(Deserialize)]
struct CalendlyDetail {
    #[serde(default)]
    parameter: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn parse_error(body: &[u8]) -> ErrorBody {
    let Ok(e) = serde_json::from_slice::<CalendlyError>(body) else {
        return ErrorBody::default();
    };
    let fields: Vec<FieldError> = e
        .details
        .into_iter()
        .map(|d| FieldError {
            field: d.parameter,
            message: d.message.unwrap_or_default(),
        })
        .collect();
    let mut message = e.message.unwrap_or_default();
    for f in &fields {
        message.push_str(&format!(
            "; {}: {}",
            f.field.as_deref().unwrap_or("?"),
            f.message
        ));
    }
    ErrorBody {
        code: e.title,
        message,
        fields,
    }
}

pub(crate) const ERROR_POLICY: ErrorPolicy = ErrorPolicy {
    parse: parse_error,
    classify: |status, _| ErrorClass::from_status(status),
    pending_statuses: &[],
};

#[derive(Deserialize)]
struct LinkEnvelope {
    resource: LinkResource,
}

#[derive(Deserialize)]
struct LinkResource {
    booking_url: String,
}

#[derive(Deserialize)]
struct TimesEnvelope {
    collection: Vec<TimeSlot>,
}

#[derive(Deserialize)]
struct TimeSlot {
    #[serde(default)]
    status: Option<String>,
    start_time: DateTime<Utc>,
    #[serde(default)]
    invitees_remaining: Option<u32>,
    #[serde(default)]
    scheduling_url: Option<String>,
}

#[derive(Clone)]
pub struct CalendlyClient {
    http: HttpClient,
    auth: Auth,
    event_type: String,
}

impl CalendlyClient {
    pub fn new(config: CalendlyConfig, usage: SharedUsageSink) -> Result<Self, ProviderError> {
        let http = HttpClient::new(
            Provider::Calendly,
            config.base_url,
            config.http,
            ERROR_POLICY,
            usage,
        )?;
        Ok(Self {
            http,
            auth: Auth::Bearer(config.token),
            event_type: config.event_type,
        })
    }
}

impl std::fmt::Debug for CalendlyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalendlyClient")
            .field("http", &self.http)
            .field("event_type", &self.event_type)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Scheduler for CalendlyClient {
    fn mode(&self) -> Mode {
        Mode::Live
    }

    async fn create_booking_link(&self, tracking: &str) -> Result<BookingLink, ProviderError> {
        validate_tracking(tracking)?;
        let request = build_create_link(&self.event_type);
        let envelope: LinkEnvelope = self
            .http
            .call(&request, &self.auth, |exchange| {
                Ok((exchange.json(Provider::Calendly)?, Cost::default()))
            })
            .await?;
        Ok(BookingLink {
            url: tracked_booking_url(&envelope.resource.booking_url, tracking).map_err(|_| {
                ProviderError::invalid_response(Provider::Calendly, "booking_url is not a URL")
            })?,
            tracking: tracking.to_owned(),
            delivery: Delivery::Sent,
        })
    }

    async fn available_times(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<AvailableTime>, ProviderError> {
        let request = build_available_times(&self.event_type, start, end)?;
        let envelope: TimesEnvelope = self
            .http
            .call(&request, &self.auth, |exchange| {
                Ok((exchange.json(Provider::Calendly)?, Cost::default()))
            })
            .await?;
        Ok(envelope
            .collection
            .into_iter()
            .filter(|slot| slot.status.as_deref().is_none_or(|s| s == "available"))
            .map(|slot| AvailableTime {
                start_time: slot.start_time,
                invitees_remaining: slot.invitees_remaining.unwrap_or(1),
                scheduling_url: slot.scheduling_url,
            })
            .collect())
    }
}
