//! Return dates in out-of-office replies.
//!
//! Understood (case-insensitive): ISO `2026-12-14`; `14 December`, `14th Dec 2026`,
//! `December 14`, `Dec 14th, 2026`; weekdays (`until Monday`, `back on Tuesday`: the
//! next such day strictly after the reply); `tomorrow`; `next week` (the next Monday).
//! A date without a year is the first such date on or after the reply. Numeric
//! `14/12` and `12/14` are ambiguous between locales and deliberately not read (chosen).
//!
//! Dates before the reply or more than 366 days after it are ignored.
//!
//! When several dates appear, the first one right after a return cue (`until`, `till`,
//! `back`, `return`, `returning`, `returns`, `from`… within three words) wins, else the
//! last date mentioned ("out from 1 Dec to 14 Dec" ends on the 14th).

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Dates before the reply or more than a year after it are not return dates (chosen).
pub const MAX_AHEAD_DAYS: i64 = 366;
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const CUES: [&str; 8] = [
    "until",
    "till",
    "til",
    "back",
    "return",
    "returning",
    "returns",
    "resume",
];

fn month(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let index = MONTHS.iter().position(|m| word.starts_with(m))?;
    let is_prefix_of_name = full[index].starts_with(word) || word == "sept";
    is_prefix_of_name.then_some(u32::try_from(index + 1).unwrap_or(1))
}

fn day(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn year(word: &str) -> Option<i32> {
    (word.len() == 4)
        .then(|| word.parse().ok())
        .flatten()
        .filter(|y| (2000..=2100).contains(y))
}

fn weekday(word: &str) -> Option<Weekday> {
    // Full names and the unambiguous short forms ("sat", "sun", "wed" are ordinary words).
    let day = match word {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" | "tues" => Weekday::Tue,
        "wednesday" | "weds" => Weekday::Wed,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

fn iso(word: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(word, "%Y-%m-%d").ok()
}

/// The first `month`/`day` on or after `received`, in `year` when given.
fn resolve(received: NaiveDate, month: u32, day: u32, year: Option<i32>) -> Option<NaiveDate> {
    match year {
        Some(y) => NaiveDate::from_ymd_opt(y, month, day),
        None => (0..=4)
            .filter_map(|add| NaiveDate::from_ymd_opt(received.year() + add, month, day))
            .find(|d| *d >= received),
    }
}

fn next_weekday(received: NaiveDate, target: Weekday) -> NaiveDate {
    let ahead = (7 + target.num_days_from_monday() - received.weekday().num_days_from_monday()) % 7;
    let ahead = if ahead == 0 { 7 } else { ahead };
    received
        .checked_add_signed(Duration::days(i64::from(ahead)))
        .unwrap_or(received)
}

/// Lower-case words: letters, digits and `-` (ISO dates) kept, the rest split.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .map(|w| w.trim_matches('-').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A date found at word index `at`.
fn date_at(w: &[String], i: usize, received: NaiveDate) -> Option<NaiveDate> {
    let get = |k: usize| w.get(k).map(String::as_str);
    let word = get(i)?;
    if let Some(d) = iso(word) {
        return Some(d);
    }
    if word == "tomorrow" {
        return received.succ_opt();
    }
    if word == "next" && get(i + 1) == Some("week") {
        return Some(next_weekday(received, Weekday::Mon));
    }
    if let Some(wd) = weekday(word) {
        return Some(next_weekday(received, wd));
    }
    // "14 December [2026]" / "14th of December"
    if let Some(d) = day(word) {
        let m_index = if get(i + 1) == Some("of") {
            i + 2
        } else {
            i + 1
        };
        if let Some(m) = get(m_index).and_then(month) {
            return resolve(received, m, d, get(m_index + 1).and_then(year));
        }
    }
    // "December 14[th][, 2026]"
    let m = month(word)?;
    let d = get(i + 1).and_then(day)?;
    resolve(received, m, d, get(i + 2).and_then(year))
}

/// The return date in an out-of-office text received on `received`, if one is given.
pub fn return_date(text: &str, received: NaiveDate) -> Option<NaiveDate> {
    let w = words(text);
    let plausible = |d: &NaiveDate| {
        *d >= received
            && received
                .checked_add_signed(Duration::days(MAX_AHEAD_DAYS))
                .is_some_and(|last| *d <= last)
    };
    let found: Vec<(usize, NaiveDate)> = (0..w.len())
        .filter_map(|i| date_at(&w, i, received).filter(plausible).map(|d| (i, d)))
        .collect();
    let after_cue = found
        .iter()
        .find(|(i, _)| (i.saturating_sub(3)..*i).any(|k| CUES.contains(&w[k].as_str())));
    after_cue.or(found.last()).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    // Received on Friday 2026-11-27.
    fn parse(text: &str) -> Option<NaiveDate> {
        return_date(text, d(2026, 11, 27))
    }

    #[test]
    fn the_briefs_examples_parse() {
        assert_eq!(
            parse("I'm away, back on 14 December."),
            Some(d(2026, 12, 14))
        );
        assert_eq!(
            parse("Out of office, returning 2026-12-14"),
            Some(d(2026, 12, 14))
        );
        assert_eq!(
            parse("I am out of the office until Monday"),
            Some(d(2026, 11, 30))
        );
    }

    #[test]
    fn month_day_orders_suffixes_and_years_are_understood() {
        assert_eq!(parse("back December 14th, 2026"), Some(d(2026, 12, 14)));
        assert_eq!(
            parse("back 3rd of Jan"),
            Some(d(2027, 1, 3)),
            "a past month-day means next year"
        );
        assert_eq!(
            parse("until 27 November"),
            Some(d(2026, 11, 27)),
            "today counts"
        );
        assert_eq!(parse("back Sept 2"), Some(d(2027, 9, 2)));
        assert_eq!(parse("back on 31 February"), None);
    }

    #[test]
    fn weekdays_mean_the_next_one_strictly_after_the_reply() {
        assert_eq!(parse("back Friday"), Some(d(2026, 12, 4)));
        assert_eq!(parse("until tomorrow"), Some(d(2026, 11, 28)));
        assert_eq!(parse("back next week"), Some(d(2026, 11, 30)));
    }

    #[test]
    fn a_date_after_a_cue_beats_other_dates() {
        assert_eq!(
            parse("Away from 1 December, back on 14 December"),
            Some(d(2026, 12, 14))
        );
        assert_eq!(parse("Out 1 Dec to 12 Dec"), Some(d(2026, 12, 12)));
    }

    #[test]
    fn no_date_and_ambiguous_numbers_give_none() {
        assert_eq!(parse("I am on vacation"), None);
        assert_eq!(parse("back 14/12"), None);
        assert_eq!(
            parse("may I ask"),
            None,
            "'may' without a day is not a date"
        );
        assert_eq!(
            parse("back on 2025-01-05"),
            None,
            "a past date is not a return date"
        );
        assert_eq!(
            parse("back on 1 March 2030"),
            None,
            "years ahead is not a return date"
        );
    }
}
