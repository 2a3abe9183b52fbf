//! Reading a provider's "wait this long" from response headers (pure).

use chrono::{DateTime, Utc};
use std::time::Duration;

/// The wait a response asks for, from (first match wins):
/// `Retry-After` (delta seconds or HTTP date), `X-RateLimit-Reset` (a unix
/// time as SendGrid sends it, or a delta in seconds when small), and
/// OpenAI's `x-ratelimit-reset-requests` / `-tokens` (`"1s"`, `"6m0s"`,
/// `"20ms"`; the longer of the two).
pub fn retry_after_from_headers<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if let Some(value) = header("retry-after") {
        let value = value.trim();
        if let Ok(secs) = value.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs.min(86_400.0)));
            }
        } else if let Ok(at) = DateTime::parse_from_rfc2822(value) {
            return Some(until(at.with_timezone(&Utc), now));
        }
    }
    if let Some(value) = header("x-ratelimit-reset")
        && let Ok(n) = value.trim().parse::<i64>()
    {
        // Epoch seconds are ~1.7e9; anything below a year is a delta.
        if n > 31_536_000 {
            if let Some(at) = DateTime::from_timestamp(n, 0) {
                return Some(until(at, now));
            }
        } else if n >= 0 {
            return Some(Duration::from_secs(n as u64));
        }
    }
    ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
        .iter()
        .filter_map(|name| header(name).and_then(parse_go_duration))
        .max()
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

/// Parses durations such as `1s`, `6m0s`, `1h2m3.5s`, `20ms`.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total <= 86_400.0).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with<'a>(
        headers: &'a HashMap<&'static str, &'static str>,
    ) -> impl Fn(&str) -> Option<&'a str> {
        move |name| headers.get(name).copied()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let h = HashMap::from([("retry-after", "7")]);
        assert_eq!(
            retry_after_from_headers(with(&h), now()),
            Some(Duration::from_secs(7))
        );
        let h = HashMap::from([("retry-after", "Tue, 14 Nov 2023 22:13:30 GMT")]);
        assert_eq!(
            retry_after_from_headers(with(&h), now()),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn sendgrid_reset_is_a_unix_time() {
        let h = HashMap::from([("x-ratelimit-reset", "1700000004")]);
        assert_eq!(
            retry_after_from_headers(with(&h), now()),
            Some(Duration::from_secs(4))
        );
        let past = HashMap::from([("x-ratelimit-reset", "1699999990")]);
        assert_eq!(
            retry_after_from_headers(with(&past), now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn openai_reset_headers_use_go_durations() {
        let h = HashMap::from([
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(
            retry_after_from_headers(with(&h), now()),
            Some(Duration::from_secs(360))
        );
        assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_go_duration("garbage"), None);
    }

    #[test]
    fn garbage_headers_mean_no_wait() {
        let h = HashMap::from([("retry-after", "soon"), ("x-ratelimit-reset", "-")]);
        assert_eq!(retry_after_from_headers(with(&h), now()), None);
    }
}
