//! Human durations as written in definitions: `250ms`, `30s`, `5m`, `2h`, `3d`, `1w`,
//! and sums of them such as `1h30m`.
//!
//! Only whole numbers are accepted, each followed by a unit; there is no default unit,
//! because `timeout: 30` is ambiguous. A duration is at most 365 days: anything longer
//! in a workflow is a typo, and the cap keeps every later computation far from overflow.

use std::time::Duration;

pub use crate::error::DurationError;

/// The longest duration a definition may hold.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
];

/// Parses `250ms`, `30s`, `5m`, `2h`, `3d`, `1w` or a sum such as `1h30m`.
///
/// Surrounding whitespace is ignored. Segments may come in any order and repeat
/// (`30s1m` is 90 seconds), like Go's `time.ParseDuration`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(text.to_owned()));
    }
    let invalid = || DurationError::Invalid(text.to_owned());
    let too_long = || DurationError::TooLong(text.to_owned());
    let max_ms = MAX_DURATION.as_millis();
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        // Digits only, so the sole parse failure is overflow.
        let amount: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let unit_len = rest.len() - rest.trim_start_matches(|c: char| c.is_alphabetic()).len();
        if unit_len == 0 {
            return Err(if rest.is_empty() {
                DurationError::MissingUnit(text.to_owned())
            } else {
                invalid()
            });
        }
        let unit = &rest[..unit_len];
        let Some(&(_, factor)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                input: text.to_owned(),
                unit: unit.to_owned(),
            });
        };
        rest = &rest[unit_len..];
        total_ms += u128::from(amount) * u128::from(factor);
        if total_ms > max_ms {
            return Err(too_long());
        }
    }
    // total_ms <= MAX_DURATION, which fits a u64 of milliseconds.
    Ok(Duration::from_millis(total_ms as u64))
}

/// Formats a duration in the syntax [`parse_duration`] reads, largest units first
/// (`1d2h30m`, `1500ms` → `1s500ms`, zero → `0s`). Weeks are written as days.
/// Anything below a millisecond is dropped.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for &(name, factor) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ]
    .iter()
    {
        let n = ms / factor;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
            ms %= factor;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_unit_parses() {
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("3d"), Duration::from_secs(3 * 86_400));
        assert_eq!(ok("1w"), Duration::from_secs(7 * 86_400));
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn compound_durations_add_up() {
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1m30s500ms"), Duration::from_millis(90_500));
        assert_eq!(ok(" 2m "), Duration::from_secs(120));
        assert_eq!(ok("365d"), MAX_DURATION);
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        let err = |s: &str| parse_duration(s).unwrap_err();
        assert_eq!(err(""), DurationError::Empty);
        assert_eq!(err("  "), DurationError::Empty);
        assert_eq!(err("-5s"), DurationError::Negative("-5s".into()));
        assert_eq!(err("30"), DurationError::MissingUnit("30".into()));
        assert_eq!(err("1h30"), DurationError::MissingUnit("1h30".into()));
        assert_eq!(
            err("5x").to_string(),
            "\"5x\" is not a duration: unknown unit \"x\" (units: ms, s, m, h, d, w)"
        );
        assert_eq!(
            err("s").to_string(),
            "\"s\" is not a duration (expected e.g. 250ms, 30s, 5m, 2h, 3d)"
        );
        assert_eq!(err("1.5h"), DurationError::Invalid("1.5h".into()));
        assert_eq!(err("5 m"), DurationError::Invalid("5 m".into()));
        assert_eq!(err("366d"), DurationError::TooLong("366d".into()));
        assert_eq!(err("53w"), DurationError::TooLong("53w".into()));
        assert_eq!(
            err("99999999999999999999999s"),
            DurationError::TooLong("99999999999999999999999s".into())
        );
        assert_eq!(
            err("18446744073709551615d"),
            DurationError::TooLong("18446744073709551615d".into())
        );
    }

    #[test]
    fn formatting_uses_the_largest_units() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_micros(2500)), "2ms");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0..=MAX_DURATION.as_millis() as u64) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn parse_then_format_is_canonical(
            parts in proptest::collection::vec((0u64..100, 0usize..UNITS.len()), 1..4)
        ) {
            let text: String = parts.iter().map(|(n, u)| format!("{n}{}", UNITS[*u].0)).collect();
            let d = match parse_duration(&text) {
                Ok(d) => d,
                Err(e) => {
                    prop_assert_eq!(e, DurationError::TooLong(text));
                    return Ok(());
                }
            };
            let canonical = format_duration(d);
            prop_assert_eq!(parse_duration(&canonical), Ok(d));
            prop_assert_eq!(format_duration(parse_duration(&canonical).unwrap()), canonical);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,12}") {
            let _ = parse_duration(&s);
        }
    }
}
