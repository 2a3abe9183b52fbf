//! Building Calendly requests and booking URLs (pure).

use crate::error::ProviderError;
use crate::http::ApiRequest;
use crate::operation;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

/// Calendly refuses availability ranges longer than this.
pub const MAX_AVAILABILITY_RANGE: chrono::Duration = chrono::Duration::days(31);

/// `POST /scheduling_links`: a link good for one booking of `event_type`.
pub fn build_create_link(event_type: &str) -> ApiRequest {
    ApiRequest::post_json(
        operation::CREATE_SCHEDULING_LINK,
        "/scheduling_links",
        json!({
            "max_event_count": 1,
            "owner": event_type,
            "owner_type": "EventType",
        }),
    )
}

/// `GET /event_type_available_times?event_type&start_time&end_time`.
pub fn build_available_times(
    event_type: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<ApiRequest, ProviderError> {
    if end <= start {
        return Err(ProviderError::invalid_input(
            "end_time",
            "must be after start_time",
        ));
    }
    if end - start > MAX_AVAILABILITY_RANGE {
        return Err(ProviderError::invalid_input(
            "end_time",
            "the range must not exceed 31 days",
        ));
    }
    Ok(ApiRequest::get(
        operation::LIST_AVAILABLE_TIMES,
        "/event_type_available_times",
    )
    .query("event_type", event_type)
    .query(
        "start_time",
        start.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
    .query("end_time", end.to_rfc3339_opts(SecondsFormat::Micros, true)))
}

/// The booking URL with `utm_content=<tracking>` (and `utm_source=rex`), so
/// the `invitee.created` webhook maps back to the lead.
pub fn tracked_booking_url(booking_url: &str, tracking: &str) -> Result<String, ProviderError> {
    let mut url = url::Url::parse(booking_url)
        .map_err(|e| ProviderError::invalid_input("booking_url", e.to_string()))?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "utm_content" && k != "utm_source")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("utm_source", "rex")
        .append_pair("utm_content", tracking);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;

    #[test]
    fn a_single_use_link_is_requested_for_the_event_type() {
        let req = build_create_link("https://api.calendly.com/event_types/ET1");
        let Body::Json(body) = &req.body else {
            panic!("json expected")
        };
        assert_eq!(body["max_event_count"], 1);
        assert_eq!(body["owner_type"], "EventType");
        assert_eq!(body["owner"], "https://api.calendly.com/event_types/ET1");
    }

    #[test]
    fn availability_ranges_are_bounded() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let req = build_available_times("et", start, start + chrono::Duration::days(7)).unwrap();
        assert!(req.idempotent);
        assert_eq!(
            req.query[1],
            (
                "start_time".to_owned(),
                "2027-01-15T08:00:00.000000Z".to_owned()
            )
        );
        assert!(build_available_times("et", start, start + chrono::Duration::days(32)).is_err());
        assert!(build_available_times("et", start, start).is_err());
    }

    #[test]
    fn the_tracking_id_rides_in_utm_content() {
        let url = tracked_booking_url(
            "https://calendly.com/d/abcd-efg/30min?month=2027-01",
            "lead-42",
        )
        .unwrap();
        assert_eq!(
            url,
            "https://calendly.com/d/abcd-efg/30min?month=2027-01&utm_source=rex&utm_content=lead-42"
        );
    }
}
