//! Helpers shared by the webhook verifiers: the timestamp tolerance check.

use crate::error::WebhookError;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Refuses timestamps older (or further ahead) than `tolerance`.
pub fn check_age(
    seconds: i64,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let tolerance_secs = tolerance.as_secs() as i64;
    let age = now.timestamp().saturating_sub(seconds);
    if age > tolerance_secs {
        return Err(WebhookError::TimestampTooOld {
            age_secs: age,
            tolerance_secs,
        });
    }
    if -age > tolerance_secs {
        return Err(WebhookError::TimestampInFuture {
            ahead_secs: -age,
            tolerance_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_within_the_tolerance_either_way_pass() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let tolerance = Duration::from_secs(180);
        assert!(check_age(1_000_000 - 180, now, tolerance).is_ok());
        assert!(check_age(1_000_000 + 180, now, tolerance).is_ok());
        assert!(check_age(1_000_000 - 181, now, tolerance).is_err());
        assert!(check_age(1_000_000 + 181, now, tolerance).is_err());
        assert!(check_age(i64::MIN, now, tolerance).is_err());
        assert!(check_age(i64::MAX, now, tolerance).is_err());
    }
}
