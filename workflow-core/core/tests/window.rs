//! Send windows: validation, DST changes, weekends, holidays, spreading, and properties
//! checked against a brute-force scan of `is_open`.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use rex_core::window::{Day, RawWindow, Window, WindowError};
use std::time::Duration;

fn raw(days: &[Day], hours: &str, tz: &str, holidays: &[&str]) -> RawWindow {
    RawWindow {
        days: days.to_vec(),
        hours: hours.to_owned(),
        timezone: tz.to_owned(),
        holidays: holidays.iter().map(|h| (*h).to_owned()).collect(),
    }
}

const WEEKDAYS: &[Day] = &[Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

fn office(tz: &str) -> Window {
    Window::compile(&raw(WEEKDAYS, "09:00-17:00", tz, &[]), tz).unwrap()
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A local wall-clock time, which must exist and be unambiguous.
fn local(tz: &str, s: &str) -> DateTime<Utc> {
    let tz: Tz = tz.parse().unwrap();
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    tz.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn the_definition_form_reads_from_yaml() {
    let yaml = "days: [mon, tue, wed, thu, fri]\nhours: \"09:00-17:00\"\ntimezone: America/New_York\nholidays: [\"2026-12-25\"]\n";
    let parsed: RawWindow = serde_norway::from_str(yaml).unwrap();
    assert_eq!(
        parsed,
        raw(WEEKDAYS, "09:00-17:00", "America/New_York", &["2026-12-25"])
    );
    let typo = "days: [mon]\nhours: \"09:00-17:00\"\ntimezone: UTC\nholiday: []\n";
    assert!(serde_norway::from_str::<RawWindow>(typo).is_err());
    let bad_day = "days: [monday]\nhours: \"09:00-17:00\"\ntimezone: UTC\n";
    assert!(serde_norway::from_str::<RawWindow>(bad_day).is_err());
}

#[test]
fn an_invalid_zone_is_rejected_with_a_suggestion() {
    let r = raw(WEEKDAYS, "09:00-17:00", "America/New_Yrok", &[]);
    let err = Window::compile(&r, &r.timezone).unwrap_err();
    assert_eq!(err.field(), "timezone");
    assert_eq!(
        err.to_string(),
        "timezone \"America/New_Yrok\" is not an IANA time zone (did you mean \"America/New_York\"?)"
    );
    let err = Window::compile(&r, "Mars/Olympus_Mons").unwrap_err();
    assert!(matches!(err, WindowError::UnknownTimezone { .. }), "{err}");
    assert!(Window::compile(&r, "").is_err());
    assert!(Window::compile(&r, "${inputs.lead.timezone}").is_err());
    // The template itself is fine for the zone-independent check.
    assert_eq!(r.check(), Ok(()));
}

#[test]
fn bad_days_hours_and_holidays_name_the_field_and_value() {
    let cases: &[(RawWindow, &str, &str)] = &[
        (raw(&[], "09:00-17:00", "UTC", &[]), "days", "days is empty"),
        (
            raw(&[Day::Mon, Day::Mon], "09:00-17:00", "UTC", &[]),
            "days",
            "days lists mon twice",
        ),
        (
            raw(WEEKDAYS, "9-17", "UTC", &[]),
            "hours",
            "hours \"9-17\" is not HH:MM-HH:MM",
        ),
        (
            raw(WEEKDAYS, "09:00-25:00", "UTC", &[]),
            "hours",
            "\"09:00-25:00\"",
        ),
        (
            raw(WEEKDAYS, "24:00-24:00", "UTC", &[]),
            "hours",
            "is not HH:MM",
        ),
        (
            raw(WEEKDAYS, "09:60-17:00", "UTC", &[]),
            "hours",
            "is not HH:MM",
        ),
        (
            raw(WEEKDAYS, " 09:00-17:00", "UTC", &[]),
            "hours",
            "is not HH:MM",
        ),
        (
            raw(WEEKDAYS, "17:00-09:00", "UTC", &[]),
            "hours",
            "overnight windows are not supported",
        ),
        (
            raw(WEEKDAYS, "09:00-09:00", "UTC", &[]),
            "hours",
            "must start before it ends",
        ),
        (
            raw(WEEKDAYS, "09:00-17:00", "UTC", &["2026-02-30"]),
            "holidays",
            "\"2026-02-30\" is not a date",
        ),
        (
            raw(WEEKDAYS, "09:00-17:00", "UTC", &["2026-1-5"]),
            "holidays",
            "\"2026-1-5\"",
        ),
        (
            raw(WEEKDAYS, "09:00-17:00", "UTC", &["25.12.2026"]),
            "holidays",
            "YYYY-MM-DD",
        ),
    ];
    for (r, field, fragment) in cases {
        let err = Window::compile(r, "UTC").unwrap_err();
        assert_eq!(err.field(), *field, "{r:?}");
        assert!(err.to_string().contains(fragment), "{err} lacks {fragment}");
        assert_eq!(r.check(), Err(err));
    }
    let many: Vec<String> = (0..1001).map(|i| format!("{}-01-01", 3000 + i)).collect();
    let mut r = raw(WEEKDAYS, "09:00-17:00", "UTC", &[]);
    r.holidays = many;
    assert_eq!(r.check(), Err(WindowError::TooManyHolidays(1001)));
}

#[test]
fn a_friday_evening_step_moves_to_monday_nine_local() {
    let w = office("America/New_York");
    let friday_evening = local("America/New_York", "2026-06-12 18:30");
    assert!(!w.is_open(friday_evening));
    assert_eq!(
        w.next_open(friday_evening),
        local("America/New_York", "2026-06-15 09:00")
    );
    // During the window nothing moves; the end is exclusive, the start inclusive.
    let inside = local("America/New_York", "2026-06-15 16:59");
    assert_eq!(w.next_open(inside), inside);
    assert!(!w.is_open(local("America/New_York", "2026-06-15 17:00")));
    assert!(w.is_open(local("America/New_York", "2026-06-15 09:00")));
    // Early morning waits for the same day's opening.
    let early = local("America/New_York", "2026-06-16 06:10");
    assert_eq!(
        w.next_open(early),
        local("America/New_York", "2026-06-16 09:00")
    );
}

#[test]
fn new_york_spring_forward_keeps_nine_local() {
    // 2026-03-08 (Sunday) 02:00 EST → 03:00 EDT. Monday 09:00 is 13:00 UTC, not 14:00.
    let w = office("America/New_York");
    let friday = utc("2026-03-06T23:00:00Z"); // Friday 18:00 EST
    assert_eq!(w.next_open(friday), utc("2026-03-09T13:00:00Z"));
    // The day before the change, 09:00 is still 14:00 UTC.
    assert_eq!(
        w.next_open(utc("2026-03-06T12:00:00Z")),
        utc("2026-03-06T14:00:00Z")
    );
}

#[test]
fn an_opening_in_the_spring_forward_gap_moves_to_the_first_instant_after_it() {
    // 02:30 does not exist on 2026-03-08 in New York: the window opens at 03:00 EDT.
    let r = raw(&[Day::Sun], "02:30-05:00", "America/New_York", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    let saturday_night = utc("2026-03-08T03:00:00Z"); // Saturday 22:00 EST
    assert_eq!(w.next_open(saturday_night), utc("2026-03-08T07:00:00Z"));
    // A window that lies wholly in the gap is closed that day.
    let r = raw(&[Day::Sun], "02:00-02:45", "America/New_York", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    assert_eq!(
        w.next_open(saturday_night),
        local("America/New_York", "2026-03-15 02:00")
    );
}

#[test]
fn new_york_fall_back_keeps_nine_local_and_takes_the_earlier_of_a_repeated_time() {
    // 2026-11-01 (Sunday) 02:00 EDT → 01:00 EST. Monday 09:00 is 14:00 UTC, not 13:00.
    let w = office("America/New_York");
    let friday = utc("2026-10-30T22:00:00Z"); // Friday 18:00 EDT
    assert_eq!(w.next_open(friday), utc("2026-11-02T14:00:00Z"));

    // 01:30 happens twice that night: the window opens at the first, 05:30 UTC (EDT).
    let r = raw(&[Day::Sun], "01:30-05:00", "America/New_York", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    assert_eq!(
        w.next_open(utc("2026-11-01T03:00:00Z")),
        utc("2026-11-01T05:30:00Z")
    );

    // A window ending inside the repeated hour reopens when the clock goes back: after
    // the first 01:45 (EDT), the next open instant is the second 01:00 (EST).
    let r = raw(&[Day::Sun], "01:00-01:30", "America/New_York", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    assert!(w.is_open(utc("2026-11-01T05:10:00Z")));
    assert!(!w.is_open(utc("2026-11-01T05:45:00Z")));
    assert_eq!(
        w.next_open(utc("2026-11-01T05:45:00Z")),
        utc("2026-11-01T06:00:00Z")
    );
}

#[test]
fn berlin_spring_forward_keeps_nine_local() {
    // 2026-03-29 (Sunday) 02:00 CET → 03:00 CEST. Monday 09:00 is 07:00 UTC, not 08:00.
    let w = office("Europe/Berlin");
    let friday = utc("2026-03-27T17:00:00Z"); // Friday 18:00 CET
    assert_eq!(w.next_open(friday), utc("2026-03-30T07:00:00Z"));
    let r = raw(&[Day::Sun], "02:15-04:00", "Europe/Berlin", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    assert_eq!(
        w.next_open(utc("2026-03-28T22:00:00Z")),
        utc("2026-03-29T01:00:00Z")
    );
}

#[test]
fn holidays_are_skipped() {
    let r = raw(
        WEEKDAYS,
        "09:00-17:00",
        "America/New_York",
        &["2026-12-25", "2026-12-28"],
    );
    let w = Window::compile(&r, &r.timezone).unwrap();
    // Thursday evening before Christmas: Friday and Monday are holidays → Tuesday.
    let thursday = local("America/New_York", "2026-12-24 17:30");
    assert_eq!(
        w.next_open(thursday),
        local("America/New_York", "2026-12-29 09:00")
    );
    assert!(!w.is_open(local("America/New_York", "2026-12-25 10:00")));
}

#[test]
fn holidays_are_local_dates() {
    // 2026-12-24T22:00Z is already Christmas morning in Tokyo.
    let r = raw(WEEKDAYS, "07:00-17:00", "Asia/Tokyo", &["2026-12-25"]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    let christmas_morning_tokyo = utc("2026-12-24T22:30:00Z");
    assert!(!w.is_open(christmas_morning_tokyo));
    assert_eq!(
        w.next_open(christmas_morning_tokyo),
        local("Asia/Tokyo", "2026-12-28 07:00")
    );
}

#[test]
fn a_window_may_run_to_midnight() {
    let r = raw(&[Day::Sat], "20:00-24:00", "Europe/London", &[]);
    let w = Window::compile(&r, &r.timezone).unwrap();
    assert!(w.is_open(local("Europe/London", "2026-07-04 23:59")));
    assert!(!w.is_open(local("Europe/London", "2026-07-05 00:00")));
    let all_day = raw(&Day::ALL, "00:00-24:00", "UTC", &[]);
    let w = Window::compile(&all_day, "UTC").unwrap();
    let t = utc("2026-07-04T12:34:56.789Z");
    assert_eq!(w.next_open(t), t);
}

#[test]
fn spread_staggers_a_batch_in_open_time_and_carries_over_to_the_next_opening() {
    let w = office("Europe/Berlin");
    let monday_nine = local("Europe/Berlin", "2026-06-15 09:00");
    let spacing = Duration::from_secs(60);
    assert_eq!(w.spread(monday_nine, 0, spacing), monday_nine);
    assert_eq!(
        w.spread(monday_nine, 10, spacing),
        local("Europe/Berlin", "2026-06-15 09:10")
    );
    // 8 hours hold 480 one-minute slots; slot 480 is Tuesday's first.
    assert_eq!(
        w.spread(monday_nine, 479, spacing),
        local("Europe/Berlin", "2026-06-15 16:59")
    );
    assert_eq!(
        w.spread(monday_nine, 480, spacing),
        local("Europe/Berlin", "2026-06-16 09:00")
    );
    // Friday's overflow lands on Monday, not on Saturday.
    let friday_four = local("Europe/Berlin", "2026-06-19 16:00");
    assert_eq!(
        w.spread(friday_four, 90, spacing),
        local("Europe/Berlin", "2026-06-22 09:30")
    );
    // Huge products saturate rather than overflow.
    let far = w.spread(monday_nine, u32::MAX, Duration::MAX);
    assert!(w.is_open(far) && far > monday_nine);
}

const ZONES: &[&str] = &[
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Asia/Kathmandu",      // +05:45
    "America/Santiago",    // DST changes at midnight
    "Pacific/Chatham",     // +12:45 / +13:45
    "Asia/Kolkata",
    "UTC",
];

prop_compose! {
    /// Windows whose edges lie on a quarter hour, so a 15-minute scan sees every edge.
    fn arb_window()(
        zone in 0..ZONES.len(),
        day_mask in 1u8..128,
        start_q in 0u32..95,
        len_q in 1u32..96,
        holidays in proptest::collection::vec(0i64..1100, 0..4),
    ) -> Window {
        let days: Vec<Day> = Day::ALL.iter().enumerate()
            .filter(|(i, _)| day_mask & (1 << i) != 0).map(|(_, d)| *d).collect();
        let end_q = (start_q + len_q).min(96);
        let hm = |q: u32| format!("{:02}:{:02}", q / 4, q % 4 * 15);
        let base = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let holidays: Vec<String> = holidays.iter()
            .map(|d| (base + chrono::Days::new(*d as u64)).format("%Y-%m-%d").to_string())
            .collect();
        let r = RawWindow {
            days,
            hours: format!("{}-{}", hm(start_q), hm(end_q)),
            timezone: ZONES[zone].to_owned(),
            holidays,
        };
        Window::compile(&r, ZONES[zone]).unwrap()
    }
}

/// 2025-01-01 to 2028-01-01, to the nanosecond.
fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (1_735_689_600i64..1_830_297_600, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap())
}

/// DST changes of 2026 in the zones above, as UTC instants.
const CHANGES: &[&str] = &[
    "2026-03-08T07:00:00Z", // New York, spring
    "2026-11-01T06:00:00Z", // New York, fall
    "2026-03-29T01:00:00Z", // Berlin, spring
    "2026-10-25T01:00:00Z", // Berlin, fall
    "2026-04-04T15:00:00Z", // Lord Howe, end of DST
    "2026-10-03T15:30:00Z", // Lord Howe, start of DST
    "2026-04-05T03:00:00Z", // Santiago, end of DST
    "2026-09-06T04:00:00Z", // Santiago, start of DST
    "2026-04-04T14:00:00Z", // Chatham, end of DST
    "2026-09-26T14:00:00Z", // Chatham, start of DST
];

/// Quarter hours from 2025 to 2027, half of them within three days of a DST change.
fn arb_quarter_hour() -> impl Strategy<Value = DateTime<Utc>> {
    let anywhere =
        (0i64..105_000).prop_map(|q| DateTime::from_timestamp(1_735_689_600 + q * 900, 0).unwrap());
    let near_change = (0..CHANGES.len(), -288i64..288)
        .prop_map(|(i, q)| utc(CHANGES[i]) + chrono::TimeDelta::minutes(15 * q));
    prop_oneof![anywhere, near_change]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn next_open_is_open_not_earlier_and_idempotent(
        w in arb_window(),
        t in prop_oneof![arb_instant(), arb_quarter_hour()],
    ) {
        let open = w.next_open(t);
        prop_assert!(open >= t);
        prop_assert!(w.is_open(open), "{open} is not open");
        prop_assert_eq!(w.next_open(open), open);
    }

    #[test]
    fn next_open_is_the_first_open_quarter_hour(w in arb_window(), t in arb_quarter_hour()) {
        // On the quarter-hour grid every edge is visible, so a scan is the truth.
        let open = w.next_open(t);
        let mut scan = t;
        while !w.is_open(scan) {
            scan += chrono::TimeDelta::minutes(15);
            prop_assert!(scan <= open, "scan passed {open} without finding it open");
        }
        prop_assert_eq!(open, scan);
    }

    #[test]
    fn spread_is_open_and_never_goes_backwards(
        w in arb_window(), t in arb_instant(), i in 0u32..2000, minutes in 1u64..120,
    ) {
        let spacing = Duration::from_secs(minutes * 60);
        let here = w.spread(t, i, spacing);
        let next = w.spread(t, i + 1, spacing);
        prop_assert!(w.is_open(here) && w.is_open(next));
        prop_assert!(here >= w.next_open(t));
        prop_assert!(next > here, "{next} is not after {here}");
    }
}
