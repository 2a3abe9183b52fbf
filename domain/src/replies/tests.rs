use super::*;

fn received() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
}

fn class(text: &str) -> ReplyCategory {
    classify(text, received()).category
}

#[test]
fn interest_is_recognized() {
    assert_eq!(
        class("Sounds interesting — can you send over some times next week?"),
        ReplyCategory::Interested
    );
    assert_eq!(class("Yes, happy to chat."), ReplyCategory::Interested);
    assert_eq!(class("Can you send pricing?"), ReplyCategory::Interested);
}

#[test]
fn refusals_are_not_read_as_interest() {
    assert_eq!(
        class("Not interested, thanks."),
        ReplyCategory::NotInterested
    );
    assert_eq!(
        class("No thank you, we're all set."),
        ReplyCategory::NotInterested
    );
    assert_eq!(
        class("I left the company in March."),
        ReplyCategory::NotInterested
    );
}

#[test]
fn objections_say_what_kind() {
    assert_eq!(
        class("Honestly it's too expensive for us."),
        ReplyCategory::Objection {
            kind: ObjectionKind::Budget
        }
    );
    assert_eq!(
        class("Not interested right now, maybe next quarter."),
        ReplyCategory::Objection {
            kind: ObjectionKind::Timing
        }
    );
    assert_eq!(
        class("We already use HubSpot for this."),
        ReplyCategory::Objection {
            kind: ObjectionKind::Competitor
        }
    );
    let unknown = classify("Who gave you my number?", received());
    assert_eq!(
        (unknown.category, unknown.confidence),
        (
            ReplyCategory::Objection {
                kind: ObjectionKind::Other
            },
            0.3
        )
    );
}

#[test]
fn out_of_office_replies_carry_the_return_date() {
    assert_eq!(
        class("Automatic reply: I am out of the office, back on 14 December."),
        ReplyCategory::OutOfOffice {
            return_date: NaiveDate::from_ymd_opt(2026, 12, 14)
        }
    );
    assert_eq!(
        class("I'm on vacation, returning 2026-12-14. For urgent matters call the desk."),
        ReplyCategory::OutOfOffice {
            return_date: NaiveDate::from_ymd_opt(2026, 12, 14)
        }
    );
    assert_eq!(
        class("OOO until Monday"),
        ReplyCategory::OutOfOffice {
            return_date: NaiveDate::from_ymd_opt(2026, 11, 30)
        }
    );
    assert_eq!(
        class("I am currently away with limited access to email."),
        ReplyCategory::OutOfOffice { return_date: None }
    );
}

#[test]
fn referrals_extract_the_name_and_email() {
    assert_eq!(
        class("I'm not the right person. Please reach out to Jane Doe at jane.doe@acme.io."),
        ReplyCategory::Referral {
            name: Some("Jane Doe".into()),
            email: Some("jane.doe@acme.io".into())
        }
    );
    assert_eq!(
        class("I'm no longer with Acme; please contact John Smith (john.smith@acme.io)."),
        ReplyCategory::Referral {
            name: Some("John Smith".into()),
            email: Some("john.smith@acme.io".into())
        }
    );
    assert_eq!(
        class("Talk to Marco, he runs ops."),
        ReplyCategory::Referral {
            name: Some("Marco".into()),
            email: None
        }
    );
    assert_eq!(
        class("Try ops@acme.io"),
        ReplyCategory::Referral {
            name: None,
            email: Some("ops@acme.io".into())
        }
    );
    assert_eq!(
        class("You should ask my colleague in finance."),
        ReplyCategory::Referral {
            name: None,
            email: None
        }
    );
}

#[test]
fn a_cue_that_points_at_the_writer_is_not_a_referral() {
    assert_eq!(
        class("Sure, email me at ana@acme.io and we can book a time"),
        ReplyCategory::Interested
    );
    assert_eq!(class("Let's talk, try Monday?"), ReplyCategory::Interested);
}

#[test]
fn unsubscribes_win_over_everything() {
    assert_eq!(
        class("Not interested. Remove me from your list."),
        ReplyCategory::Unsubscribe
    );
    assert_eq!(class("STOP"), ReplyCategory::Unsubscribe);
    assert_eq!(class("opt-out"), ReplyCategory::Unsubscribe);
    assert_eq!(class("Please stop emailing me"), ReplyCategory::Unsubscribe);
}

#[test]
fn quoted_history_is_ignored() {
    let reply = "Yes, let's talk next week.\n\nOn Tue, 24 Nov 2026 at 10:00, Sam <sam@rex.example> wrote:\n> Unsubscribe: https://rex.example/u/abc";
    assert_eq!(class(reply), ReplyCategory::Interested);
    assert_eq!(
        class("Sounds good\n> to unsubscribe click here"),
        ReplyCategory::Interested
    );
}

#[test]
fn sms_stop_keywords_match_the_whole_message_only() {
    for body in [
        "STOP",
        "stop.",
        " Quit ",
        "END",
        "revoke",
        "OPT OUT",
        "Cancel",
        "unsubscribe!",
    ] {
        assert!(is_sms_stop(body), "{body}");
    }
    for body in ["stop by tomorrow", "the end", "", "stopp"] {
        assert!(!is_sms_stop(body), "{body}");
    }
}

#[test]
fn the_deterministic_classifier_never_panics_on_odd_input() {
    for text in [
        "",
        "   ",
        "@@@",
        "contact",
        "contact @",
        "back on 99 December",
        "🙂 👍",
        "reach out to\n",
    ] {
        let _ = classify(text, received());
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn classification_is_total_and_confidence_in_range(text in ".{0,200}") {
            let c = classify(&text, received());
            prop_assert!((0.0..=1.0).contains(&c.confidence));
            if let ReplyCategory::OutOfOffice { return_date: Some(d) } = c.category {
                prop_assert!(d >= received());
            }
        }
    }
}
