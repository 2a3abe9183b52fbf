use super::*;
use chrono::Timelike;
use proptest::prelude::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn entry(address: &str, at: DateTime<Utc>, lifted_at: Option<DateTime<Utc>>) -> SuppressionEntry {
    SuppressionEntry {
        address: address.into(),
        reason: SuppressionReason::Unsubscribe,
        source_event: "evt-1".into(),
        at,
        lifted_at,
    }
}

#[test]
fn suppression_applies_from_its_time_until_lifted() {
    let at = utc(2026, 11, 1, 12, 0);
    let lifted = utc(2026, 11, 10, 12, 0);
    let ledger = [entry("Ana@Acme.io", at, Some(lifted))];
    assert!(suppression(&ledger, "ana@acme.io", at - Duration::seconds(1)).is_none());
    assert!(suppression(&ledger, " ANA@acme.io ", at).is_some());
    assert!(suppression(&ledger, "ana@acme.io", lifted - Duration::seconds(1)).is_some());
    assert!(suppression(&ledger, "ana@acme.io", lifted).is_none());
    assert!(suppression(&ledger, "bob@acme.io", at).is_none());
}

#[test]
fn phone_numbers_match_whatever_their_punctuation() {
    let ledger = [entry("+1 (415) 555-0100", utc(2026, 1, 1, 0, 0), None)];
    assert!(suppression(&ledger, "+14155550100", utc(2026, 6, 1, 0, 0)).is_some());
}

#[test]
fn consent_gate_follows_country_and_channel() {
    let unknown = ConsentFlags::default();
    let granted = ConsentFlags {
        email: Consent::Granted,
        sms: Consent::Granted,
        linkedin: Consent::Granted,
    };
    let denied = ConsentFlags {
        email: Consent::Denied,
        sms: Consent::Denied,
        linkedin: Consent::Denied,
    };
    assert_eq!(consent_gate(Channel::Email, Some("US"), &unknown), Ok(()));
    assert_eq!(consent_gate(Channel::Email, Some("FR"), &unknown), Ok(()));
    assert_eq!(
        consent_gate(Channel::Email, Some("de"), &unknown),
        Err(GateRefusal::CountryNeedsConsent {
            channel: Channel::Email,
            country: "DE".into()
        })
    );
    assert_eq!(consent_gate(Channel::Email, Some("DE"), &granted), Ok(()));
    assert_eq!(
        consent_gate(Channel::Email, None, &granted),
        Err(GateRefusal::CountryUnknown {
            channel: Channel::Email
        })
    );
    assert_eq!(
        consent_gate(Channel::Email, Some("US"), &denied),
        Err(GateRefusal::Objected {
            channel: Channel::Email
        })
    );
    assert_eq!(
        consent_gate(Channel::Sms, Some("US"), &unknown),
        Err(GateRefusal::NoSmsConsent)
    );
    assert_eq!(consent_gate(Channel::Sms, None, &granted), Ok(()));
    assert_eq!(consent_gate(Channel::Linkedin, None, &unknown), Ok(()));
    assert_eq!(
        consent_gate(Channel::Linkedin, None, &denied),
        Err(GateRefusal::Objected {
            channel: Channel::Linkedin
        })
    );
}

#[test]
fn sms_quiet_hours_start_at_eight_and_end_at_nine_pm_local() {
    let ny: Tz = "America/New_York".parse().unwrap();
    // 2026-11-27 is EST (UTC-5).
    assert!(!sms_allowed(ny, utc(2026, 11, 27, 12, 59)));
    assert!(sms_allowed(ny, utc(2026, 11, 27, 13, 0)));
    assert!(sms_allowed(ny, utc(2026, 11, 28, 1, 59)));
    assert!(!sms_allowed(ny, utc(2026, 11, 28, 2, 0)));
    assert_eq!(
        next_sms_time(ny, utc(2026, 11, 28, 2, 0)),
        Some(utc(2026, 11, 28, 13, 0))
    );
}

#[test]
fn sms_quiet_hours_move_with_daylight_saving_time() {
    let ny: Tz = "America/New_York".parse().unwrap();
    // 2026-03-08: clocks jump 02:00 → 03:00; 08:00 EDT is 12:00 UTC (EST would be 13:00).
    assert!(!sms_allowed(ny, utc(2026, 3, 8, 11, 59)));
    assert!(sms_allowed(ny, utc(2026, 3, 8, 12, 0)));
    assert_eq!(
        next_sms_time(ny, utc(2026, 3, 8, 5, 0)),
        Some(utc(2026, 3, 8, 12, 0))
    );
    // The day before is still EST.
    assert!(!sms_allowed(ny, utc(2026, 3, 7, 12, 30)));
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    // 2026-10-25: back to CET; 21:00 CET is 20:00 UTC.
    assert!(sms_allowed(berlin, utc(2026, 10, 25, 19, 59)));
    assert!(!sms_allowed(berlin, utc(2026, 10, 25, 20, 0)));
}

#[test]
fn send_window_waits_over_the_weekend_and_holidays() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let mut window = SendWindow::default();
    // Friday 2026-11-27 18:00 CET = 17:00 UTC: closed; next is Monday 08:00 CET.
    assert!(window.contains(berlin, utc(2026, 11, 27, 16, 59)));
    assert!(!window.contains(berlin, utc(2026, 11, 27, 17, 0)));
    assert_eq!(
        window.next_open(berlin, utc(2026, 11, 27, 17, 0)),
        Some(utc(2026, 11, 30, 7, 0))
    );
    window
        .holidays
        .push(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    assert_eq!(
        window.next_open(berlin, utc(2026, 11, 27, 17, 0)),
        Some(utc(2026, 12, 1, 7, 0))
    );
}

#[test]
fn a_window_that_never_opens_has_no_next_time() {
    let tz: Tz = "UTC".parse().unwrap();
    let empty = SendWindow {
        days: vec![],
        ..SendWindow::default()
    };
    assert_eq!(empty.next_open(tz, utc(2026, 1, 1, 0, 0)), None);
    let backwards = SendWindow {
        start: SMS_END,
        end: SMS_START,
        ..SendWindow::default()
    };
    assert_eq!(backwards.next_open(tz, utc(2026, 1, 1, 0, 0)), None);
}

#[test]
fn a_window_opening_inside_a_dst_gap_opens_when_the_gap_ends() {
    let ny: Tz = "America/New_York".parse().unwrap();
    let window = SendWindow {
        start: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
        end: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
        ..SendWindow::sms()
    };
    // 2026-03-08 02:30 does not exist in New York; 03:00 EDT = 07:00 UTC.
    assert_eq!(
        window.next_open(ny, utc(2026, 3, 8, 5, 0)),
        Some(utc(2026, 3, 8, 7, 0))
    );
}

#[test]
fn mailbox_cap_allows_the_last_send_and_refuses_the_next() {
    assert_eq!(
        mailbox_cap_check(3, HealthTier::Good, 4),
        CapCheck::Allowed { remaining: 1 }
    );
    assert_eq!(
        mailbox_cap_check(3, HealthTier::Good, 5),
        CapCheck::Reached { cap: 5 }
    );
    assert_eq!(
        mailbox_cap_check(3, HealthTier::Good, 500),
        CapCheck::Reached { cap: 5 }
    );
    assert_eq!(
        mailbox_cap_check(100, HealthTier::Warning, 19),
        CapCheck::Allowed { remaining: 1 }
    );
    assert_eq!(
        mailbox_cap_check(100, HealthTier::Paused, 0),
        CapCheck::Reached { cap: 0 }
    );
}

const ZONES: [&str; 8] = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Asia/Tehran",
    "UTC",
];

fn brute_force_next(tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (0..3 * 24 * 60)
        .map(|m| at + Duration::minutes(m))
        .find(|t| sms_allowed(tz, *t))
}

fn brute_force_allowed(tz: Tz, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&tz);
    let minutes = local.hour() * 60 + local.minute();
    (8 * 60..21 * 60).contains(&minutes)
}

proptest! {
    #[test]
    fn quiet_hours_agree_with_a_minute_by_minute_scan(
        zone in 0usize..ZONES.len(), minute in 0i64..(40 * 366 * 24 * 60)
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let at = utc(2000, 1, 1, 0, 0) + Duration::minutes(minute);
        prop_assert_eq!(sms_allowed(tz, at), brute_force_allowed(tz, at));
        prop_assert_eq!(next_sms_time(tz, at), brute_force_next(tz, at));
    }

    #[test]
    fn next_open_is_inside_the_window_and_not_before_now(
        zone in 0usize..ZONES.len(), seconds in 0i64..(40 * 366 * 24 * 3600)
    ) {
        let tz: Tz = ZONES[zone].parse().unwrap();
        let at = utc(2000, 1, 1, 0, 0) + Duration::seconds(seconds);
        let window = SendWindow::default();
        let next = window.next_open(tz, at).unwrap();
        prop_assert!(next >= at);
        prop_assert!(window.contains(tz, next));
        // Nothing in between is open (checked on the minute grid after `at`).
        let mut t = at;
        while t < next {
            prop_assert!(!window.contains(tz, t));
            t += Duration::minutes(1);
        }
    }
}
