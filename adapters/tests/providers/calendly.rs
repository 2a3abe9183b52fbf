//! Calendly scheduling links and available times against a local server.

use crate::fixtures::{base_url, http, usage};
use crate::scenarios::Scenario;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rex_adapters::calendly::{CalendlyClient, CalendlyConfig};
use rex_adapters::http::HttpConfig;
use rex_adapters::{ProviderError, Scheduler, UsageSink};
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const TOKEN: &str = "calendly-pat-abcdef";
const EVENT_TYPE: &str = "https://api.calendly.com/event_types/AAAAAAAAAAAAAAAA";

fn client(server: &MockServer, http: HttpConfig, usage: Arc<dyn UsageSink>) -> CalendlyClient {
    let mut config = CalendlyConfig::new(TOKEN, EVENT_TYPE);
    config.base_url = base_url(server);
    config.http = http;
    CalendlyClient::new(config, usage).unwrap()
}

fn calendly_error(status: u16, title: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "title": title, "message": message }))
}

fn link_request() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/scheduling_links"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(json!({
            "max_event_count": 1,
            "owner": EVENT_TYPE,
            "owner_type": "EventType"
        })))
}

struct CreateLink;

#[async_trait]
impl Scenario for CreateLink {
    fn expected(&self) -> MockBuilder {
        link_request()
    }
    fn success(&self) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "resource": {
                "booking_url": "https://calendly.com/d/abcd-brv8/15-minute-meeting",
                "owner": EVENT_TYPE,
                "owner_type": "EventType"
            }
        }))
    }
    fn bad_request(&self) -> ResponseTemplate {
        ResponseTemplate::new(400).set_body_json(json!({
            "title": "Invalid Argument",
            "message": "The supplied parameters are invalid.",
            "details": [{ "parameter": "owner", "message": "must be a valid event type URI" }]
        }))
    }
    fn bad_request_says(&self) -> &'static str {
        "owner: must be a valid event type URI"
    }
    fn unauthorized(&self) -> ResponseTemplate {
        calendly_error(401, "Unauthenticated", "The access token is invalid")
    }
    fn too_large(&self) -> ResponseTemplate {
        ResponseTemplate::new(413).set_body_string("Request Entity Too Large")
    }
    fn rate_limited(&self) -> ResponseTemplate {
        calendly_error(
            429,
            "Too Many Requests",
            "You have exceeded the rate limit.",
        )
        .insert_header("X-RateLimit-Limit", "500")
        .insert_header("X-RateLimit-Remaining", "0")
        .insert_header("X-RateLimit-Reset", "1")
    }
    fn idempotent(&self) -> bool {
        false
    }
    async fn call(
        &self,
        server: &MockServer,
        http: HttpConfig,
        usage: Arc<dyn UsageSink>,
    ) -> Result<(), ProviderError> {
        client(server, http, usage)
            .create_booking_link("lead-42")
            .await
            .map(|_| ())
    }
}

mod create_link {
    crate::response_matrix!(super::CreateLink);
}

#[tokio::test]
async fn the_booking_link_carries_the_lead_id_in_utm_content() {
    let server = MockServer::start().await;
    link_request()
        .respond_with(CreateLink.success())
        .expect(1)
        .mount(&server)
        .await;
    let link = client(&server, http(), usage().1)
        .create_booking_link("lead-42")
        .await
        .unwrap();
    assert_eq!(
        link.url,
        "https://calendly.com/d/abcd-brv8/15-minute-meeting?utm_source=rex&utm_content=lead-42"
    );
    assert_eq!(link.tracking, "lead-42");
    assert!(!link.delivery.is_dry_run());
}

#[tokio::test]
async fn available_times_are_listed_for_the_event_type() {
    let server = MockServer::start().await;
    let start: DateTime<Utc> = "2027-01-18T00:00:00Z".parse().unwrap();
    let end = start + chrono::Duration::days(7);
    Mock::given(method("GET"))
        .and(path("/event_type_available_times"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("event_type", EVENT_TYPE))
        .and(query_param("start_time", "2027-01-18T00:00:00.000000Z"))
        .and(query_param("end_time", "2027-01-25T00:00:00.000000Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "collection": [
                { "status": "available", "invitees_remaining": 1, "start_time": "2027-01-18T09:00:00.000000Z", "scheduling_url": "https://calendly.com/acme/15min/2027-01-18T09:00:00Z?month=2027-01&date=2027-01-18" },
                { "status": "available", "invitees_remaining": 1, "start_time": "2027-01-18T09:30:00.000000Z", "scheduling_url": "https://calendly.com/acme/15min/2027-01-18T09:30:00Z" }
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let times = client(&server, http(), usage().1)
        .available_times(start, end)
        .await
        .unwrap();
    assert_eq!(times.len(), 2);
    assert_eq!(
        times[1].start_time,
        "2027-01-18T09:30:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[tokio::test]
async fn a_range_over_31_days_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let start = Utc::now();
    let err = client(&server, http(), usage().1)
        .available_times(start, start + chrono::Duration::days(40))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_input");
}
