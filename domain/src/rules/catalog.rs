//! The rule catalogue. Names are stable: timelines and dashboards refer to them.
//!
//! | # | rule | cost | layer | fires when | action |
//! | --- | --- | --- | --- | --- | --- |
//! | 1 | `suppress_on_unsubscribe` | 0 | rules | an unsubscribe event, or a reply classified as unsubscribe | suppress (unsubscribe) |
//! | 2 | `suppress_on_sms_stop` | 0 | rules | an inbound SMS that is STOP/QUIT/END/REVOKE/OPT OUT/CANCEL/UNSUBSCRIBE (TCPA, DOMAIN.md) | suppress (sms_stop) |
//! | 3 | `suppress_on_complaint` | 0 | rules | a spam complaint | suppress (complaint) |
//! | 4 | `suppress_on_hard_bounce` | 0 | rules | a hard bounce | suppress and recount the domain |
//! | 5 | `stop_on_meeting_booked` | 0 | rules | a meeting was booked | stop the sequence |
//! | 6 | `pause_on_out_of_office` | 0 | rules | an out-of-office reply | pause until 00:00 lead-local the day after the return date; 7 days when no date is given (chosen) |
//! | 7 | `stop_on_reply` | 0 | rules | any other reply | stop the sequence (DOMAIN.md stop rules) |
//! | 8 | `sequence_not_active` | 0 | state machine | the sequence is over | ignore |
//! | 9 | `pause_in_effect` | 0 | state machine | a pause ends after `now` | wait until it ends |
//! | 10 | `suppressed_address` | 1 | rules | the ledger holds the address | stop the sequence |
//! | 11 | `country_consent_gate` | 1 | rules | `outreach::consent_gate` refuses the channel (UWG §7, GDPR Art. 21, TCPA) | skip the channel |
//! | 12 | `enrichment_budget_spent` | 1 | rules | a lookup's worst-case cost exceeds the credits left | skip enrichment |
//! | 13 | `llm_unavailable_use_template` | 1 | fallback | personalization with the LLM down | use the template |
//! | 14 | `llm_unavailable_use_classifier` | 1 | fallback | reply classification with the LLM down | deterministic classifier |
//! | 15 | `domain_over_thresholds` | 2 | rules | the domain's tier is paused or blocked (bounce ≥ 1.8%, complaints ≥ 0.10%) | pause the domain |
//! | 16 | `mailbox_daily_cap` | 2 | rules | sent today ≥ the warmup cap by age after health | wait until 00:00 UTC (chosen: mailbox days are UTC days) |
//! | 17 | `unknown_time_zone` | 3 | rules | an email/SMS send and the lead's zone is not an IANA name | skip the channel (quiet hours cannot be guaranteed) |
//! | 18 | `sms_quiet_hours` | 3 | rules | an SMS outside 08:00–21:00 lead-local | wait until 08:00 lead-local |
//! | 19 | `email_send_window` | 3 | rules | an email outside the send window | wait until it opens (skip the channel if it never does) |

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Action, Facts, Layer, Pending, Rule, Signal};
use crate::channel::{Channel, parse_tz};
use crate::deliverability::{HealthTier, assess};
use crate::outreach::{
    CapCheck, SuppressionReason, consent_gate, mailbox_cap_check, next_sms_time, sms_allowed,
};
use crate::replies::{ReplyCategory, is_sms_stop};

/// How long an out-of-office without a date pauses (chosen).
pub const OUT_OF_OFFICE_DEFAULT_DAYS: i64 = 7;

type Fired = Option<(Action, String)>;

fn suppress(reason: SuppressionReason, why: &str) -> Fired {
    Some((Action::Suppress { reason }, why.into()))
}

fn suppress_on_unsubscribe(f: &Facts) -> Fired {
    match &f.signal {
        Some(Signal::Unsubscribe) => {
            suppress(SuppressionReason::Unsubscribe, "the lead unsubscribed")
        }
        Some(Signal::Reply {
            category: ReplyCategory::Unsubscribe,
        }) => suppress(
            SuppressionReason::Unsubscribe,
            "the lead asked to be removed in a reply",
        ),
        _ => None,
    }
}

fn suppress_on_sms_stop(f: &Facts) -> Fired {
    match &f.signal {
        Some(Signal::SmsInbound { body }) if is_sms_stop(body) => suppress(
            SuppressionReason::SmsStop,
            &format!("the lead texted \"{}\"", body.trim()),
        ),
        _ => None,
    }
}

fn suppress_on_complaint(f: &Facts) -> Fired {
    matches!(f.signal, Some(Signal::Complaint)).then(|| {
        (
            Action::Suppress {
                reason: SuppressionReason::Complaint,
            },
            "the lead marked a message as spam".into(),
        )
    })
}

fn suppress_on_hard_bounce(f: &Facts) -> Fired {
    matches!(f.signal, Some(Signal::HardBounce)).then(|| {
        (
            Action::SuppressAndRecountDomain {
                domain: f.domain.clone(),
            },
            format!("hard bounce: suppress the address and recount {}", f.domain),
        )
    })
}

fn stop_on_meeting_booked(f: &Facts) -> Fired {
    matches!(f.signal, Some(Signal::MeetingBooked))
        .then(|| (Action::StopSequence, "a meeting is booked".into()))
}

fn zone_or_utc(f: &Facts) -> Tz {
    parse_tz(&f.time_zone).unwrap_or(Tz::UTC)
}

/// 00:00 lead-local on the day after `date` (the first instant that exists that day).
fn morning_after(tz: Tz, date: NaiveDate) -> Option<chrono::DateTime<Utc>> {
    let next = date.succ_opt()?;
    (0..=180)
        .find_map(|m| {
            next.and_time(chrono::NaiveTime::MIN)
                .checked_add_signed(Duration::minutes(m))
                .and_then(|local| tz.from_local_datetime(&local).earliest())
        })
        .map(|t| t.with_timezone(&Utc))
}

fn pause_on_out_of_office(f: &Facts) -> Fired {
    let Some(Signal::Reply {
        category: ReplyCategory::OutOfOffice { return_date },
    }) = &f.signal
    else {
        return None;
    };
    let default = f
        .now
        .checked_add_signed(Duration::days(OUT_OF_OFFICE_DEFAULT_DAYS))
        .unwrap_or(f.now);
    let (until, why) = match return_date
        .and_then(|d| morning_after(zone_or_utc(f), d).map(|t| (d, t)))
    {
        Some((date, until)) if until > f.now => (until, format!("out of office, back on {date}")),
        _ => (
            default,
            format!(
                "out of office without a usable return date: pause {OUT_OF_OFFICE_DEFAULT_DAYS} days"
            ),
        ),
    };
    Some((Action::PauseUntil { until }, why))
}

fn stop_on_reply(f: &Facts) -> Fired {
    match &f.signal {
        Some(Signal::Reply { category }) => Some((
            Action::StopSequence,
            format!("the lead replied ({})", category.name()),
        )),
        Some(Signal::SmsInbound { .. }) => {
            Some((Action::StopSequence, "the lead replied by SMS".into()))
        }
        _ => None,
    }
}

fn sequence_not_active(f: &Facts) -> Fired {
    (!f.sequence_active).then(|| (Action::Ignore, "the sequence is no longer running".into()))
}

fn pause_in_effect(f: &Facts) -> Fired {
    let until = f.paused_until.filter(|u| *u > f.now)?;
    Some((
        Action::WaitUntil { until },
        format!("the lead's sequence is paused until {until}"),
    ))
}

fn sending(f: &Facts) -> Option<Channel> {
    match f.pending {
        Pending::Send { channel } => Some(channel),
        _ => None,
    }
}

fn suppressed_address(f: &Facts) -> Fired {
    (f.suppressed && sending(f).is_some()).then(|| {
        (
            Action::StopSequence,
            "the address is in the suppression ledger".into(),
        )
    })
}

fn country_consent_gate(f: &Facts) -> Fired {
    let channel = sending(f)?;
    let refusal = consent_gate(channel, f.country.as_deref(), &f.consent).err()?;
    Some((
        Action::SkipChannel { channel },
        format!("consent gate: {refusal:?}"),
    ))
}

fn enrichment_budget_spent(f: &Facts) -> Fired {
    let Pending::Enrich { cost } = f.pending else {
        return None;
    };
    (!f.enrichment_budget.can_afford(cost)).then(|| {
        (
            Action::SkipEnrichment,
            format!(
                "lookup may cost {cost} credits, {} left",
                f.enrichment_budget.remaining()
            ),
        )
    })
}

fn llm_unavailable_use_template(f: &Facts) -> Fired {
    (f.pending == Pending::Personalize && !f.llm_available)
        .then(|| (Action::UseTemplate, "the LLM is unavailable".into()))
}

fn llm_unavailable_use_classifier(f: &Facts) -> Fired {
    (f.pending == Pending::ClassifyReply && !f.llm_available).then(|| {
        (
            Action::UseDeterministicClassifier,
            "the LLM is unavailable".into(),
        )
    })
}

fn domain_over_thresholds(f: &Facts) -> Fired {
    if sending(f) != Some(Channel::Email) {
        return None;
    }
    let a = assess(&f.domain_stats);
    (!a.tier.may_send()).then(|| {
        (
            Action::PauseDomain {
                domain: f.domain.clone(),
            },
            format!("{}: {}", f.domain, a.reason),
        )
    })
}

fn mailbox_daily_cap(f: &Facts) -> Fired {
    if sending(f) != Some(Channel::Email) {
        return None;
    }
    let tier: HealthTier = assess(&f.mailbox_stats).tier;
    let CapCheck::Reached { cap } =
        mailbox_cap_check(f.mailbox_age_days, tier, f.mailbox_sent_today)
    else {
        return None;
    };
    let tomorrow = f
        .now
        .date_naive()
        .succ_opt()?
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    Some((
        Action::WaitUntil { until: tomorrow },
        format!(
            "mailbox sent {} of its {cap} today (age {} days, {tier:?})",
            f.mailbox_sent_today, f.mailbox_age_days
        ),
    ))
}

fn unknown_time_zone(f: &Facts) -> Fired {
    let channel = sending(f).filter(|c| *c != Channel::Linkedin)?;
    parse_tz(&f.time_zone)
        .err()
        .map(|e| (Action::SkipChannel { channel }, e.to_string()))
}

fn sms_quiet_hours(f: &Facts) -> Fired {
    if sending(f) != Some(Channel::Sms) {
        return None;
    }
    let tz = parse_tz(&f.time_zone).ok()?;
    if sms_allowed(tz, f.now) {
        return None;
    }
    let until = next_sms_time(tz, f.now)?;
    Some((
        Action::WaitUntil { until },
        format!("SMS quiet hours in {tz} (08:00–21:00 only)"),
    ))
}

fn email_send_window(f: &Facts) -> Fired {
    if sending(f) != Some(Channel::Email) {
        return None;
    }
    let tz = parse_tz(&f.time_zone).ok()?;
    if f.send_window.contains(tz, f.now) {
        return None;
    }
    match f.send_window.next_open(tz, f.now) {
        Some(until) => Some((
            Action::WaitUntil { until },
            format!("outside the send window in {tz}"),
        )),
        None => Some((
            Action::SkipChannel {
                channel: Channel::Email,
            },
            "the send window never opens".into(),
        )),
    }
}

macro_rules! rule {
    ($name:ident, $cost:literal, $layer:ident) => {
        Rule {
            name: stringify!($name),
            cost: $cost,
            layer: Layer::$layer,
            check: $name,
        }
    };
}

/// Every rule, in declared order (see the table above).
pub static RULES: [Rule; 19] = [
    rule!(suppress_on_unsubscribe, 0, Rules),
    rule!(suppress_on_sms_stop, 0, Rules),
    rule!(suppress_on_complaint, 0, Rules),
    rule!(suppress_on_hard_bounce, 0, Rules),
    rule!(stop_on_meeting_booked, 0, Rules),
    rule!(pause_on_out_of_office, 0, Rules),
    rule!(stop_on_reply, 0, Rules),
    rule!(sequence_not_active, 0, StateMachine),
    rule!(pause_in_effect, 0, StateMachine),
    rule!(suppressed_address, 1, Rules),
    rule!(country_consent_gate, 1, Rules),
    rule!(enrichment_budget_spent, 1, Rules),
    rule!(llm_unavailable_use_template, 1, Fallback),
    rule!(llm_unavailable_use_classifier, 1, Fallback),
    rule!(domain_over_thresholds, 2, Rules),
    rule!(mailbox_daily_cap, 2, Rules),
    rule!(unknown_time_zone, 3, Rules),
    rule!(sms_quiet_hours, 3, Rules),
    rule!(email_send_window, 3, Rules),
];
