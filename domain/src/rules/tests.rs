use chrono::{NaiveDate, TimeZone};
use proptest::prelude::*;

use super::*;
use crate::channel::Consent;
use crate::replies::ObjectionKind;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// Wednesday 2026-11-25, 10:00 in New York (EST, UTC-5): every gate open.
fn facts() -> Facts {
    Facts {
        now: utc(2026, 11, 25, 15, 0),
        pending: Pending::Send {
            channel: Channel::Email,
        },
        signal: None,
        sequence_active: true,
        paused_until: None,
        suppressed: false,
        country: Some("US".into()),
        consent: ConsentFlags {
            sms: Consent::Granted,
            ..ConsentFlags::default()
        },
        time_zone: "America/New_York".into(),
        send_window: SendWindow::default(),
        domain: "acme-mail.io".into(),
        domain_stats: SendStats {
            sent: 1000,
            hard_bounces: 0,
            complaints: 0,
        },
        mailbox_age_days: 100,
        mailbox_sent_today: 0,
        mailbox_stats: SendStats {
            sent: 1000,
            hard_bounces: 0,
            complaints: 0,
        },
        enrichment_budget: Budget {
            limit: 100,
            spent: 0,
        },
        llm_available: true,
    }
}

fn with(f: impl FnOnce(&mut Facts)) -> Facts {
    let mut facts = facts();
    f(&mut facts);
    facts
}

fn sms() -> Facts {
    with(|f| {
        f.pending = Pending::Send {
            channel: Channel::Sms,
        }
    })
}

fn rule(facts: &Facts) -> &'static str {
    evaluate(facts).rule
}

fn reply(category: ReplyCategory) -> Option<Signal> {
    Some(Signal::Reply { category })
}

#[test]
fn the_catalogue_has_unique_names_and_is_evaluated_cheapest_first() {
    assert!(RULES.len() >= 12);
    let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RULES.len());
    let costs: Vec<u8> = ordered_rules().iter().map(|r| r.cost).collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_clean_send_proceeds() {
    let d = evaluate(&facts());
    assert_eq!(
        (d.action, d.rule, d.layer),
        (Action::Proceed, "all_gates_passed", Layer::Rules)
    );
    assert!(evaluate_all(&facts()).is_empty());
}

#[test]
fn unsubscribe_events_and_replies_suppress() {
    for signal in [Some(Signal::Unsubscribe), reply(ReplyCategory::Unsubscribe)] {
        let d = evaluate(&with(|f| f.signal = signal));
        assert_eq!(
            d.action,
            Action::Suppress {
                reason: SuppressionReason::Unsubscribe
            }
        );
        assert_eq!(d.rule, "suppress_on_unsubscribe");
    }
}

#[test]
fn sms_stop_keywords_suppress_but_other_texts_only_stop() {
    let stop = evaluate(&with(|f| {
        f.signal = Some(Signal::SmsInbound {
            body: " Stop. ".into(),
        })
    }));
    assert_eq!(
        (stop.action, stop.rule),
        (
            Action::Suppress {
                reason: SuppressionReason::SmsStop
            },
            "suppress_on_sms_stop"
        )
    );
    let chat = evaluate(&with(|f| {
        f.signal = Some(Signal::SmsInbound {
            body: "stop by at 3?".into(),
        })
    }));
    assert_eq!(
        (chat.action, chat.rule),
        (Action::StopSequence, "stop_on_reply")
    );
}

#[test]
fn complaints_and_hard_bounces_suppress() {
    let d = evaluate(&with(|f| f.signal = Some(Signal::Complaint)));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::Suppress {
                reason: SuppressionReason::Complaint
            },
            "suppress_on_complaint"
        )
    );
    let d = evaluate(&with(|f| f.signal = Some(Signal::HardBounce)));
    assert_eq!(
        d.action,
        Action::SuppressAndRecountDomain {
            domain: "acme-mail.io".into()
        }
    );
    assert_eq!(d.rule, "suppress_on_hard_bounce");
}

#[test]
fn suppression_signals_apply_even_after_the_sequence_ended() {
    let d = evaluate(&with(|f| {
        f.sequence_active = false;
        f.signal = Some(Signal::Complaint);
    }));
    assert_eq!(d.rule, "suppress_on_complaint");
}

#[test]
fn meetings_and_replies_stop_the_sequence() {
    assert_eq!(
        rule(&with(|f| f.signal = Some(Signal::MeetingBooked))),
        "stop_on_meeting_booked"
    );
    for category in [
        ReplyCategory::Interested,
        ReplyCategory::NotInterested,
        ReplyCategory::Objection {
            kind: ObjectionKind::Budget,
        },
        ReplyCategory::Referral {
            name: None,
            email: None,
        },
    ] {
        let d = evaluate(&with(|f| f.signal = reply(category)));
        assert_eq!((d.action, d.rule), (Action::StopSequence, "stop_on_reply"));
    }
}

#[test]
fn out_of_office_pauses_until_the_morning_after_the_return_date() {
    let back = NaiveDate::from_ymd_opt(2026, 12, 14);
    let d = evaluate(&with(|f| {
        f.signal = reply(ReplyCategory::OutOfOffice { return_date: back })
    }));
    // 2026-12-15 00:00 in New York = 05:00 UTC.
    assert_eq!(
        (d.action, d.rule),
        (
            Action::PauseUntil {
                until: utc(2026, 12, 15, 5, 0)
            },
            "pause_on_out_of_office"
        )
    );
}

#[test]
fn out_of_office_without_a_usable_date_pauses_seven_days() {
    let week = Action::PauseUntil {
        until: utc(2026, 12, 2, 15, 0),
    };
    let none = evaluate(&with(|f| {
        f.signal = reply(ReplyCategory::OutOfOffice { return_date: None })
    }));
    assert_eq!(none.action, week);
    // A return date in the past (already back) is not usable either.
    let past = NaiveDate::from_ymd_opt(2026, 11, 20);
    assert_eq!(
        evaluate(&with(
            |f| f.signal = reply(ReplyCategory::OutOfOffice { return_date: past })
        ))
        .action,
        week
    );
    // The return date being today still pauses until tomorrow morning.
    let today = NaiveDate::from_ymd_opt(2026, 11, 25);
    let d = evaluate(&with(|f| {
        f.signal = reply(ReplyCategory::OutOfOffice { return_date: today })
    }));
    assert_eq!(
        d.action,
        Action::PauseUntil {
            until: utc(2026, 11, 26, 5, 0)
        }
    );
}

#[test]
fn the_state_machine_layer_ignores_finished_sequences_and_holds_pauses() {
    let d = evaluate(&with(|f| f.sequence_active = false));
    assert_eq!((d.action, d.layer), (Action::Ignore, Layer::StateMachine));
    let until = utc(2026, 11, 25, 15, 1);
    let d = evaluate(&with(|f| f.paused_until = Some(until)));
    assert_eq!(
        (d.action, d.rule, d.layer),
        (
            Action::WaitUntil { until },
            "pause_in_effect",
            Layer::StateMachine
        )
    );
    assert_eq!(
        rule(&with(|f| f.paused_until = Some(utc(2026, 11, 25, 15, 0)))),
        "all_gates_passed",
        "a pause ending now is over"
    );
}

#[test]
fn suppressed_addresses_are_never_sent_to() {
    let d = evaluate(&with(|f| f.suppressed = true));
    assert_eq!(
        (d.action, d.rule),
        (Action::StopSequence, "suppressed_address")
    );
    assert_eq!(
        rule(&with(|f| {
            f.suppressed = true;
            f.pending = Pending::Personalize;
        })),
        "llm_reasoner",
        "only sends are blocked by the ledger lookup"
    );
}

#[test]
fn germany_needs_email_consent_and_sms_needs_consent_everywhere() {
    let de = evaluate(&with(|f| f.country = Some("DE".into())));
    assert_eq!(
        (de.action, de.rule),
        (
            Action::SkipChannel {
                channel: Channel::Email
            },
            "country_consent_gate"
        )
    );
    assert_eq!(
        rule(&with(|f| {
            f.country = Some("DE".into());
            f.consent.email = Consent::Granted;
        })),
        "all_gates_passed"
    );
    assert_eq!(
        rule(&with(|f| {
            f.pending = Pending::Send {
                channel: Channel::Sms,
            };
            f.consent.sms = Consent::Unknown;
        })),
        "country_consent_gate"
    );
    assert_eq!(rule(&with(|f| f.country = None)), "country_consent_gate");
}

#[test]
fn enrichment_stops_when_the_worst_case_cost_exceeds_the_credits_left() {
    let enrich = |cost, spent| {
        with(|f| {
            f.pending = Pending::Enrich { cost };
            f.enrichment_budget = Budget { limit: 10, spent };
        })
    };
    assert_eq!(rule(&enrich(9, 1)), "all_gates_passed");
    let d = evaluate(&enrich(9, 2));
    assert_eq!(
        (d.action, d.rule),
        (Action::SkipEnrichment, "enrichment_budget_spent")
    );
    assert_eq!(
        rule(&enrich(0, 10)),
        "all_gates_passed",
        "a free lookup never needs budget"
    );
}

#[test]
fn without_the_llm_the_deterministic_fallbacks_decide() {
    let d = evaluate(&with(|f| {
        f.pending = Pending::Personalize;
        f.llm_available = false;
    }));
    assert_eq!(
        (d.action, d.rule, d.layer),
        (
            Action::UseTemplate,
            "llm_unavailable_use_template",
            Layer::Fallback
        )
    );
    let d = evaluate(&with(|f| {
        f.pending = Pending::ClassifyReply;
        f.llm_available = false;
    }));
    assert_eq!(
        (d.action, d.layer),
        (Action::UseDeterministicClassifier, Layer::Fallback)
    );
    let d = evaluate(&with(|f| f.pending = Pending::ClassifyReply));
    assert_eq!((d.action, d.layer), (Action::AskLlm, Layer::Llm));
}

#[test]
fn a_domain_is_paused_at_one_point_eight_percent_bounces_not_before() {
    let at = |bounces, complaints| {
        with(|f| {
            f.domain_stats = SendStats {
                sent: 1000,
                hard_bounces: bounces,
                complaints,
            }
        })
    };
    assert_eq!(rule(&at(17, 0)), "all_gates_passed");
    let d = evaluate(&at(18, 0));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::PauseDomain {
                domain: "acme-mail.io".into()
            },
            "domain_over_thresholds"
        )
    );
    assert_eq!(rule(&at(0, 0)), "all_gates_passed");
    assert_eq!(
        rule(&at(0, 1)),
        "domain_over_thresholds",
        "1 complaint in 1000 = 0.10%"
    );
    let sms_anyway = with(|f| {
        f.pending = Pending::Send {
            channel: Channel::Sms,
        };
        f.domain_stats = SendStats {
            sent: 1000,
            hard_bounces: 50,
            complaints: 0,
        };
    });
    assert_eq!(
        rule(&sms_anyway),
        "all_gates_passed",
        "email domains do not gate SMS"
    );
}

#[test]
fn the_mailbox_cap_follows_warmup_age() {
    let at = |age, sent| {
        with(|f| {
            f.mailbox_age_days = age;
            f.mailbox_sent_today = sent;
        })
    };
    assert_eq!(rule(&at(7, 4)), "all_gates_passed");
    let d = evaluate(&at(7, 5));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::WaitUntil {
                until: utc(2026, 11, 26, 0, 0)
            },
            "mailbox_daily_cap"
        )
    );
    assert_eq!(rule(&at(8, 5)), "all_gates_passed", "day 8 allows 10");
    assert_eq!(rule(&at(91, 39)), "all_gates_passed");
    assert_eq!(rule(&at(91, 40)), "mailbox_daily_cap");
}

#[test]
fn an_unknown_time_zone_blocks_timed_channels() {
    let d = evaluate(&with(|f| f.time_zone = "Mars/Base".into()));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::SkipChannel {
                channel: Channel::Email
            },
            "unknown_time_zone"
        )
    );
    assert_eq!(
        rule(&with(|f| {
            f.time_zone = "Mars/Base".into();
            f.pending = Pending::Send {
                channel: Channel::Linkedin,
            };
        })),
        "all_gates_passed"
    );
}

#[test]
fn sms_waits_for_eight_am_local_and_stops_at_nine_pm() {
    let at = |h, m| {
        with(|f| {
            f.pending = Pending::Send {
                channel: Channel::Sms,
            };
            f.now = utc(2026, 11, 25, h, m);
        })
    };
    // New York is UTC-5 in November: 08:00 local = 13:00 UTC, 21:00 local = 02:00 UTC next day.
    let d = evaluate(&at(12, 59));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::WaitUntil {
                until: utc(2026, 11, 25, 13, 0)
            },
            "sms_quiet_hours"
        )
    );
    assert_eq!(rule(&at(13, 0)), "all_gates_passed");
    assert_eq!(rule(&sms()), "all_gates_passed");
    let late = with(|f| {
        f.pending = Pending::Send {
            channel: Channel::Sms,
        };
        f.now = utc(2026, 11, 26, 1, 59);
    });
    assert_eq!(rule(&late), "all_gates_passed");
    let d = evaluate(&with(|f| {
        f.pending = Pending::Send {
            channel: Channel::Sms,
        };
        f.now = utc(2026, 11, 26, 2, 0);
    }));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::WaitUntil {
                until: utc(2026, 11, 26, 13, 0)
            },
            "sms_quiet_hours"
        )
    );
}

#[test]
fn email_waits_for_the_send_window() {
    let at = |day, h, m| with(|f| f.now = utc(2026, 11, day, h, m));
    // Window 08:00–18:00 New York = 13:00–23:00 UTC on weekdays.
    let d = evaluate(&at(25, 12, 59));
    assert_eq!(
        (d.action, d.rule),
        (
            Action::WaitUntil {
                until: utc(2026, 11, 25, 13, 0)
            },
            "email_send_window"
        )
    );
    assert_eq!(rule(&at(25, 13, 0)), "all_gates_passed");
    assert_eq!(rule(&at(25, 22, 59)), "all_gates_passed");
    let d = evaluate(&at(27, 23, 0)); // Friday 18:00 → Monday 08:00
    assert_eq!(
        d.action,
        Action::WaitUntil {
            until: utc(2026, 11, 30, 13, 0)
        }
    );
    let never = with(|f| f.send_window.days.clear());
    assert_eq!(
        evaluate(&never).action,
        Action::SkipChannel {
            channel: Channel::Email
        }
    );
}

#[test]
fn legal_stops_win_over_timing_when_several_rules_fire() {
    let facts = with(|f| {
        f.signal = Some(Signal::Unsubscribe);
        f.suppressed = true;
        f.country = Some("DE".into());
        f.now = utc(2026, 11, 25, 3, 0);
        f.mailbox_sent_today = 1000;
    });
    let fired: Vec<&str> = evaluate_all(&facts).iter().map(|d| d.rule).collect();
    assert_eq!(
        fired,
        [
            "suppress_on_unsubscribe",
            "suppressed_address",
            "country_consent_gate",
            "mailbox_daily_cap",
            "email_send_window"
        ]
    );
    assert_eq!(evaluate(&facts).rule, "suppress_on_unsubscribe");
}

#[test]
fn decisions_serialize_with_their_rule_and_layer() {
    let json =
        serde_json::to_value(evaluate(&with(|f| f.signal = Some(Signal::Complaint)))).unwrap();
    assert_eq!(json["rule"], "suppress_on_complaint");
    assert_eq!(json["layer"], "rules");
    assert_eq!(json["action"]["action"], "suppress");
    assert_eq!(json["action"]["reason"], "complaint");
}

fn arb_facts() -> impl Strategy<Value = Facts> {
    (
        0i64..(366 * 24 * 60),
        0usize..4,
        0usize..8,
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (0u32..120, 0u32..60, 0u32..40, 0u32..5, 0u32..20),
        0usize..3,
    )
        .prop_map(
            |(
                minute,
                pending,
                signal,
                (active, suppressed, llm, de),
                (age, today, bounces, complaints, cost),
                zone,
            )| {
                let pendings = [
                    Pending::Send {
                        channel: Channel::Email,
                    },
                    Pending::Send {
                        channel: Channel::Sms,
                    },
                    Pending::Enrich { cost },
                    Pending::Personalize,
                ];
                let signals = [
                    None,
                    Some(Signal::Unsubscribe),
                    Some(Signal::Complaint),
                    Some(Signal::HardBounce),
                    Some(Signal::MeetingBooked),
                    Some(Signal::SmsInbound {
                        body: "STOP".into(),
                    }),
                    reply(ReplyCategory::Interested),
                    reply(ReplyCategory::OutOfOffice { return_date: None }),
                ];
                let zones = ["America/New_York", "Asia/Kolkata", "Nope/Nowhere"];
                with(|f| {
                    f.now = utc(2026, 1, 1, 0, 0) + chrono::Duration::minutes(minute);
                    f.pending = pendings[pending];
                    f.signal = signals[signal].clone();
                    f.sequence_active = active;
                    f.suppressed = suppressed;
                    f.llm_available = llm;
                    f.country = Some(if de { "DE" } else { "US" }.into());
                    f.mailbox_age_days = age;
                    f.mailbox_sent_today = today;
                    f.domain_stats = SendStats {
                        sent: 1000,
                        hard_bounces: bounces,
                        complaints,
                    };
                    f.time_zone = zones[zone].into();
                })
            },
        )
}

proptest! {
    #[test]
    fn a_proceeding_send_passed_every_gate(facts in arb_facts()) {
        let d = evaluate(&facts);
        if d.action == Action::Proceed {
            prop_assert!(facts.signal.is_none() && facts.sequence_active);
            if let Pending::Send { channel } = facts.pending {
                prop_assert!(!facts.suppressed);
                let tz = parse_tz_ok(&facts.time_zone);
                prop_assert!(tz.is_some());
                let tz = tz.unwrap();
                match channel {
                    Channel::Sms => prop_assert!(crate::outreach::sms_allowed(tz, facts.now)),
                    Channel::Email => {
                        prop_assert!(facts.send_window.contains(tz, facts.now));
                        prop_assert!(crate::deliverability::assess(&facts.domain_stats).tier.may_send());
                        prop_assert!(facts.mailbox_sent_today < crate::deliverability::effective_daily_cap(
                            facts.mailbox_age_days, crate::deliverability::assess(&facts.mailbox_stats).tier));
                    }
                    Channel::Linkedin => {}
                }
            }
        }
    }

    #[test]
    fn waits_are_always_in_the_future(facts in arb_facts()) {
        if let Action::WaitUntil { until } | Action::PauseUntil { until } = evaluate(&facts).action {
            prop_assert!(until > facts.now);
        }
    }

    #[test]
    fn the_first_firing_rule_decides(facts in arb_facts()) {
        let all = evaluate_all(&facts);
        let d = evaluate(&facts);
        match all.first() {
            Some(first) => prop_assert_eq!(first, &d),
            None => prop_assert!(matches!(d.layer, Layer::Rules | Layer::Llm)),
        }
    }
}

fn parse_tz_ok(zone: &str) -> Option<chrono_tz::Tz> {
    crate::channel::parse_tz(zone).ok()
}

#[test]
fn facts_round_trip_through_json_so_workers_can_pass_them() {
    let facts = with(|f| {
        f.signal = reply(ReplyCategory::OutOfOffice {
            return_date: NaiveDate::from_ymd_opt(2026, 12, 14),
        })
    });
    let json = serde_json::to_string(&facts).unwrap();
    assert_eq!(serde_json::from_str::<Facts>(&json).unwrap(), facts);
    assert!(json.contains(r#""signal":{"signal":"reply","category":{"category":"out_of_office","return_date":"2026-12-14"}}"#), "{json}");
}
