//! Send windows: the local hours in which a step may be dispatched.
//!
//! B2B outreach only lands well inside the lead's business hours, in the lead's own time
//! zone, and never on a holiday. A step with a window is dispatched at
//! [`Window::next_open`] of its due time: the earliest instant at or after it that falls
//! inside the window.
//!
//! All reasoning happens in the zone's local time (`chrono-tz`, the IANA database), so
//! daylight-saving changes are handled rather than ignored:
//!
//! - a local opening time that does not exist (the spring-forward gap) opens at the first
//!   instant after the gap: `02:30` on 2026-03-08 in New York opens at `03:00` EDT;
//! - a local time that exists twice (fall-back) opens at the earlier of the two instants;
//! - holidays are local dates, and a window day is a local weekday.
//!
//! The definition form is [`RawWindow`]. Its `timezone` may be a template
//! (`${inputs.lead.timezone}`) resolved only when the step is dispatched, so compiling is
//! split: [`RawWindow::check`] validates everything but the zone (at definition time), and
//! [`Window::compile`] takes the resolved zone name (at definition time when it is a
//! literal, at dispatch otherwise; a bad zone in a lead's data then fails that step).
//!
//! # Shifted, not bunched
//!
//! When a window pushes a step later (Friday 18:00 → Monday 09:00), the steps after it must
//! move with it instead of piling up right after it. The engine gets this by computing a
//! step's due time from its predecessor's *actual* dispatch time plus its own `delay`, and
//! only then applying its window: `due = window.next_open(prev_dispatched_at + delay)`.
//! Never precompute a whole sequence from the mission's start time.
//!
//! Many missions due at the same opening (1,000 leads all waiting for Monday 09:00) can be
//! staggered with [`Window::spread`]: item `i` goes out after `i × spacing` of *open* time,
//! so items that do not fit before the window closes continue at the next opening rather
//! than all landing on it at once.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `hours` looks like: `HH:MM-HH:MM` on a 24-hour clock; the end may be `24:00`.
pub const HOURS_PATTERN: &str =
    "^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

/// What a holiday looks like: a local date, `YYYY-MM-DD`.
pub const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// The most holidays one window may list (about 60 years of national holidays). The cap
/// bounds [`Window::next_open`]'s search, which may have to step over every one of them.
pub const MAX_HOLIDAYS: usize = 1000;

/// How many edges (openings and offset changes) [`Window::next_open`] and
/// [`Window::advance`] visit per window day before giving up. An open instant is found
/// after at most three for any real zone: the opening, a DST change, the next opening.
const EDGES_PER_DAY: usize = 4;

/// How many open stretches [`Window::advance`] walks through at most; past that it stops
/// where it got to. A million stretches covers a 15-minute weekly window spaced over
/// thousands of items (the property tests reach ~16,000).
const MAX_STRETCHES: usize = 1_000_000;

const SECS_PER_DAY: u32 = 86_400;

/// A day of the week, as written in `days: [mon, tue, …]`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Monday first, as ISO 8601 counts.
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// The name as written in definitions (`mon`).
    pub fn as_str(self) -> &'static str {
        match self {
            Day::Mon => "mon",
            Day::Tue => "tue",
            Day::Wed => "wed",
            Day::Thu => "thu",
            Day::Fri => "fri",
            Day::Sat => "sat",
            Day::Sun => "sun",
        }
    }

    pub fn weekday(self) -> Weekday {
        match self {
            Day::Mon => Weekday::Mon,
            Day::Tue => Weekday::Tue,
            Day::Wed => Weekday::Wed,
            Day::Thu => Weekday::Thu,
            Day::Fri => Weekday::Fri,
            Day::Sat => Weekday::Sat,
            Day::Sun => Weekday::Sun,
        }
    }

    pub fn from_weekday(weekday: Weekday) -> Day {
        Day::ALL[weekday.num_days_from_monday() as usize]
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A send window as written in a step definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Window")]
pub struct RawWindow {
    /// Local weekdays on which the window opens: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`,
    /// `sun`. At least one.
    #[schemars(length(min = 1))]
    pub days: Vec<Day>,
    /// Local opening hours, `HH:MM-HH:MM` on a 24-hour clock: the start is included, the
    /// end is not and may be `24:00`. The start must be before the end: overnight ranges
    /// such as `22:00-06:00` are not supported.
    #[schemars(regex(pattern = HOURS_PATTERN))]
    pub hours: String,
    /// IANA time zone of the hours and holidays, such as `America/New_York`, or a template
    /// such as `${inputs.lead.timezone}` resolved when the step is dispatched.
    pub timezone: String,
    /// Local dates, `YYYY-MM-DD`, on which the window stays closed all day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(regex(pattern = DATE_PATTERN)), length(max = MAX_HOLIDAYS))]
    pub holidays: Vec<String>,
}

/// Why a window is invalid. Each message names the field and the value at fault; the
/// caller adds the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    #[error(
        "days is empty: the window would never open (list some of mon, tue, wed, thu, fri, sat, sun)"
    )]
    NoDays,
    #[error("days lists {0} twice")]
    DuplicateDay(Day),
    #[error("hours {0:?} is not HH:MM-HH:MM on a 24-hour clock (e.g. \"09:00-17:00\")")]
    InvalidHours(String),
    #[error("hours {0:?} must start before it ends (overnight windows are not supported)")]
    HoursNotIncreasing(String),
    #[error("timezone {zone:?} is not an IANA time zone{}", did_you_mean(suggestion.as_deref()))]
    UnknownTimezone {
        zone: String,
        suggestion: Option<String>,
    },
    #[error("holidays: {0:?} is not a date (YYYY-MM-DD)")]
    InvalidHoliday(String),
    #[error("holidays lists {0} dates (at most {MAX_HOLIDAYS})")]
    TooManyHolidays(usize),
}

impl WindowError {
    /// The field of [`RawWindow`] at fault, for the problem's path (`steps[2].window.hours`).
    pub fn field(&self) -> &'static str {
        match self {
            WindowError::NoDays | WindowError::DuplicateDay(_) => "days",
            WindowError::InvalidHours(_) | WindowError::HoursNotIncreasing(_) => "hours",
            WindowError::UnknownTimezone { .. } => "timezone",
            WindowError::InvalidHoliday(_) | WindowError::TooManyHolidays(_) => "holidays",
        }
    }
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean {s:?}?)"))
}

impl RawWindow {
    /// Checks everything but the time zone, which may still be a template. Returns the
    /// first problem found.
    pub fn check(&self) -> Result<(), WindowError> {
        self.parts().map(|_| ())
    }

    /// The validated days, hours (seconds from local midnight) and holidays.
    fn parts(&self) -> Result<([bool; 7], u32, u32, BTreeSet<NaiveDate>), WindowError> {
        if self.days.is_empty() {
            return Err(WindowError::NoDays);
        }
        let mut days = [false; 7];
        for &day in &self.days {
            let slot = &mut days[day.weekday().num_days_from_monday() as usize];
            if *slot {
                return Err(WindowError::DuplicateDay(day));
            }
            *slot = true;
        }
        let (start, end) = parse_hours(&self.hours)?;
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(WindowError::TooManyHolidays(self.holidays.len()));
        }
        let holidays = self
            .holidays
            .iter()
            .map(|h| parse_date(h).ok_or_else(|| WindowError::InvalidHoliday(h.clone())))
            .collect::<Result<_, _>>()?;
        Ok((days, start, end, holidays))
    }
}

/// `HH:MM-HH:MM` → seconds from midnight, start < end <= 24:00.
fn parse_hours(text: &str) -> Result<(u32, u32), WindowError> {
    let invalid = || WindowError::InvalidHours(text.to_owned());
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start = parse_clock(start, false).ok_or_else(invalid)?;
    let end = parse_clock(end, true).ok_or_else(invalid)?;
    if start >= end {
        return Err(WindowError::HoursNotIncreasing(text.to_owned()));
    }
    Ok((start, end))
}

/// `HH:MM` → seconds from midnight; `24:00` only when `allow_24` (the end of a range).
fn parse_clock(text: &str, allow_24: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(SECS_PER_DAY),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Parses an IANA zone name exactly (names are case-sensitive, as in the database).
pub fn parse_timezone(name: &str) -> Result<Tz, WindowError> {
    name.parse::<Tz>()
        .map_err(|_| WindowError::UnknownTimezone {
            zone: name.to_owned(),
            suggestion: suggest_timezone(name),
        })
}

/// The closest zone name, if one is close: catches case slips and typos
/// (`america/new_york`, `Europe/Berlni`).
fn suggest_timezone(name: &str) -> Option<String> {
    let wanted = name.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return None;
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::jaro_winkler(&wanted, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|(score, _)| *score >= 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.to_owned())
}

/// A validated send window in a concrete time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [bool; 7],
    /// Opening time, seconds from local midnight (inclusive).
    start: u32,
    /// Closing time, seconds from local midnight (exclusive), up to 86,400 (`24:00`).
    end: u32,
    tz: Tz,
    holidays: BTreeSet<NaiveDate>,
}

impl Window {
    /// Validates `raw` and binds it to the zone `tz`: `raw.timezone` itself when it is a
    /// literal, or the value its template resolved to. `raw.timezone` is not read.
    pub fn compile(raw: &RawWindow, tz: &str) -> Result<Window, WindowError> {
        let (days, start, end, holidays) = raw.parts()?;
        Ok(Window {
            days,
            start,
            end,
            tz: parse_timezone(tz)?,
            holidays,
        })
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether `at` is inside the window: a window day, not a holiday, and a local time
    /// within the hours.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.tz);
        // Whole seconds suffice: start and end are whole minutes.
        let secs = local.time().num_seconds_from_midnight();
        self.is_window_day(local.date_naive()) && self.start <= secs && secs < self.end
    }

    fn is_window_day(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&date)
    }

    /// How many local days the search for a window day may span: every run of
    /// `7 × (holidays + 1)` days holds a window day that is not a holiday, since each
    /// week has one and each holiday removes at most one.
    fn search_days(&self) -> usize {
        7 * (self.holidays.len() + 1) + 7
    }

    /// The earliest instant at or after `after` that is inside the window.
    ///
    /// The answer is always found for a compiled window (it has a day and a non-empty
    /// range, and finitely many holidays); only at the ends of chrono's range (year
    /// ±262,000) does the search give up and return the last instant it reached.
    pub fn next_open(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let mut t = after;
        for _ in 0..EDGES_PER_DAY * self.search_days() {
            if self.is_open(t) {
                return t;
            }
            match self.next_opening_edge(t) {
                Some(next) => t = next,
                None => break,
            }
        }
        t
    }

    /// For a closed `t`: the next instant the window may open, which is the next window
    /// day's opening time, unless the zone's offset changes first. Opening can only happen
    /// at one of these: between them local time runs continuously and meets no opening.
    fn next_opening_edge(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz).naive_local();
        let mut date = local.date();
        if local.time().num_seconds_from_midnight() >= self.start {
            date = date.succ_opt()?;
        }
        for _ in 0..self.search_days() {
            if self.is_window_day(date) {
                return self.reach_local(t, date.and_time(clock(self.start)));
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// For an open `t`: the end of the stretch it is in, that is today's closing time
    /// unless the offset changes first. Every instant in `[t, stretch_end)` is open.
    fn stretch_end(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let date = t.with_timezone(&self.tz).date_naive();
        let close = if self.end == SECS_PER_DAY {
            date.succ_opt()?.and_time(NaiveTime::MIN)
        } else {
            date.and_time(clock(self.end))
        };
        self.reach_local(t, close)
    }

    /// The instant at which local time, running from `t`, first reaches `target` (a local
    /// time after `t`'s), or the first change of the zone's offset before that, whichever
    /// comes first. Keeping `t`'s offset resolves an ambiguous `target` to its earlier
    /// instant; a `target` in a gap is never reached, and the offset change that skips it
    /// is returned instead: the first valid instant after it.
    fn reach_local(&self, t: DateTime<Utc>, target: NaiveDateTime) -> Option<DateTime<Utc>> {
        let offset = self.offset_at(t.timestamp())?;
        let guess = target.and_utc().timestamp() - i64::from(offset);
        if self.offset_at(guess)? == offset {
            return DateTime::from_timestamp(guess, 0);
        }
        // The offset changed in (t, guess]: find the first second with the new one. Zone
        // transitions fall on whole seconds, so `t`'s second still has `t`'s offset.
        let (mut lo, mut hi) = (t.timestamp(), guess);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.offset_at(mid)? == offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        DateTime::from_timestamp(hi, 0)
    }

    /// The zone's UTC offset in seconds at a Unix time.
    fn offset_at(&self, unix: i64) -> Option<i32> {
        let utc = DateTime::from_timestamp(unix, 0)?;
        Some(
            self.tz
                .offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }

    /// The instant reached after `open_time` of open window, counted from
    /// [`next_open`](Self::next_open)`(from)`: business-hours arithmetic. The result is
    /// always inside the window; time that would end exactly at a close carries over to
    /// the next opening.
    pub fn advance(&self, from: DateTime<Utc>, open_time: Duration) -> DateTime<Utc> {
        let mut left = TimeDelta::from_std(open_time).unwrap_or(TimeDelta::MAX);
        let mut t = self.next_open(from);
        for _ in 0..MAX_STRETCHES {
            let Some(end) = self.stretch_end(t) else {
                return t;
            };
            let stretch = end - t;
            if left < stretch {
                return t + left;
            }
            left -= stretch;
            t = self.next_open(end);
        }
        t
    }

    /// When item `index` of a batch that became due at `base` should go out, `spacing`
    /// apart in open time: `advance(base, index × spacing)`. Item 0 goes at
    /// `next_open(base)`; items that do not fit before the close continue at the next
    /// opening instead of bunching up there.
    pub fn spread(&self, base: DateTime<Utc>, index: u32, spacing: Duration) -> DateTime<Utc> {
        let total = spacing.checked_mul(index).unwrap_or(Duration::MAX);
        self.advance(base, total)
    }
}

fn clock(secs: u32) -> NaiveTime {
    NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or(NaiveTime::MIN)
}
