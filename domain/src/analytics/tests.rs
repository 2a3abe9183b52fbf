use super::*;
use chrono::TimeZone;

pub(crate) fn t(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, s).unwrap()
}

pub(crate) fn ev(id: &str, variant: &str, at: DateTime<Utc>, kind: EventKind) -> MessageEvent {
    MessageEvent {
        message_id: id.into(),
        variant: Some(variant.into()),
        at,
        kind,
    }
}

fn open(ua: &str, flagged: bool) -> EventKind {
    EventKind::Open {
        user_agent: Some(ua.into()),
        machine_open: flagged,
    }
}

const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36";

#[test]
fn machine_opens_are_recognized_by_flag_agent_and_speed() {
    let delivered = t(2, 10, 0, 0);
    assert!(
        is_machine_open(Some(CHROME), true, t(2, 11, 0, 0), Some(delivered)),
        "sg_machine_open"
    );
    assert!(
        is_machine_open(Some("Mozilla/5.0"), false, t(2, 11, 0, 0), Some(delivered)),
        "MPP proxy"
    );
    assert!(is_machine_open(
        Some("Barracuda Sentinel (EE)"),
        false,
        t(2, 11, 0, 0),
        Some(delivered)
    ));
    assert!(
        is_machine_open(Some(CHROME), false, t(2, 10, 0, 9), Some(delivered)),
        "9 s after delivery"
    );
    assert!(
        !is_machine_open(Some(CHROME), false, t(2, 10, 0, 10), Some(delivered)),
        "10 s after delivery"
    );
    assert!(!is_machine_open(None, false, t(2, 10, 0, 5), None));
}

#[test]
fn metrics_count_each_outcome_once_per_message() {
    let events = vec![
        ev("m1", "a", t(2, 9, 0, 0), EventKind::Sent),
        ev("m1", "a", t(2, 9, 0, 5), EventKind::Delivered),
        ev("m1", "a", t(2, 9, 0, 6), open(CHROME, false)), // scanner-fast
        ev("m1", "a", t(2, 12, 0, 0), open(CHROME, false)),
        ev("m1", "a", t(2, 12, 5, 0), open(CHROME, false)),
        ev(
            "m1",
            "a",
            t(3, 8, 0, 0),
            EventKind::Reply { positive: true },
        ),
        ev("m1", "a", t(3, 9, 0, 0), EventKind::MeetingBooked),
        ev("m2", "a", t(2, 9, 0, 0), EventKind::Sent),
        ev("m2", "a", t(2, 9, 0, 1), EventKind::Delivered),
        ev("m2", "a", t(2, 9, 30, 0), open("Mozilla/5.0", false)),
        ev("m2", "a", t(2, 10, 0, 0), EventKind::Complaint),
        ev("m2", "a", t(2, 10, 0, 1), EventKind::Unsubscribe),
        ev("m3", "a", t(2, 9, 0, 0), EventKind::Sent),
        ev("m3", "a", t(2, 9, 0, 2), EventKind::Bounce { hard: true }),
        ev("m4", "a", t(2, 9, 0, 0), EventKind::Delivered), // `Sent` lost
    ];
    let m = campaign_metrics(&events);
    assert_eq!(
        m,
        CampaignMetrics {
            sent: 4,
            delivered: 3,
            human_opens: 1,
            machine_opens: 1,
            clicks: 0,
            replies: 1,
            positive_replies: 1,
            bounces: 1,
            complaints: 1,
            unsubscribes: 1,
            meetings: 1,
        }
    );
    assert_eq!(m.bounce_rate(), 0.25);
    assert!((m.open_rate() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(CampaignMetrics::default().reply_rate(), 0.0);
}

#[test]
fn variants_are_counted_separately() {
    let events = vec![
        ev("m1", "a", t(2, 9, 0, 0), EventKind::Delivered),
        ev("m2", "b", t(2, 9, 0, 0), EventKind::Delivered),
        ev(
            "m2",
            "b",
            t(2, 9, 0, 0),
            EventKind::Reply { positive: false },
        ),
        MessageEvent {
            message_id: "m3".into(),
            variant: None,
            at: t(2, 9, 0, 0),
            kind: EventKind::Delivered,
        },
    ];
    let by = metrics_by_variant(&events);
    assert_eq!(by.len(), 2);
    assert_eq!(
        (by["a"].replies, by["b"].replies, by["b"].positive_replies),
        (0, 1, 0)
    );
}

#[test]
fn trends_credit_late_replies_to_the_send_bucket() {
    let events = vec![
        ev("m1", "a", t(2, 9, 0, 0), EventKind::Sent), // Monday
        ev(
            "m1",
            "a",
            t(10, 9, 0, 0),
            EventKind::Reply { positive: true },
        ),
        ev("m2", "a", t(4, 9, 0, 0), EventKind::Sent), // Wednesday, same ISO week
        ev("m3", "a", t(9, 9, 0, 0), EventKind::Sent), // next Monday
    ];
    let daily = trends(&events, Bucket::Day);
    assert_eq!(
        daily.iter().map(|p| p.start.day()).collect::<Vec<_>>(),
        [2, 4, 9]
    );
    assert_eq!(daily[0].metrics.replies, 1);
    let weekly = trends(&events, Bucket::Week);
    assert_eq!(weekly.len(), 2);
    assert_eq!(
        (
            weekly[0].start.day(),
            weekly[0].metrics.sent,
            weekly[0].metrics.replies
        ),
        (2, 2, 1)
    );
    assert_eq!((weekly[1].start.day(), weekly[1].metrics.sent), (9, 1));
}
