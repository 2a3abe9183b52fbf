//! A simulated outside world for dry runs: what happens to a message after it is sent.
//!
//! [`simulate`] decides, for one touch (lead, step, channel, framework, send time) and the
//! lead's [`Features`], every event the providers would report and when: delivery, hard
//! bounce, spam complaint, a reply with plausible text, an SMS STOP, a booked meeting, a
//! LinkedIn task marked done. Nothing is random: each decision is a hash of the lead id,
//! the step and what is being decided (FNV-1a + the SplitMix64 finalizer, as
//! `personalizer::ab`), so a dry run replays identically and a crash-and-redeliver sees
//! the same world. Reply texts are written so that `replies::classify` reads them as
//! intended (a unit test holds every text to it).
//!
//! # Rates (per message unless said otherwise)
//!
//! | what | rate | why |
//! | --- | --- | --- |
//! | hard bounce (per address, on its first email) | valid 0.8%, catch-all 5%, webmail 2%, unverified 6%, unknown 8%, invalid/disposable 100% | old CRM data decays ~2% a month; cold-email tools report 1–3% on verified lists and more on catch-alls (DOMAIN.md: catch-alls are risky). Over the demo mix ≈ 2.5% |
//! | spam complaint | 0.04% of delivered emails | far under Google's 0.10% line (DOMAIN.md), as a warm-ish reactivation list should be |
//! | reply, email | 1.8% × score factor × step factor | reactivation campaigns see 1–5% reply rates per message (lemlist, Instantly, Apollo benchmarks) |
//! | reply, SMS | 3.5% × the same factors | texts are answered more often than emails (chosen) |
//! | reply via LinkedIn | 2.5% × the same factors | chosen, between the two |
//! | SMS STOP | 2% of delivered texts | SMS marketing opt-out rates of 1–3% are typical (chosen from vendor benchmarks) |
//! | LinkedIn task done | 85%, 2–30 h after the task | chosen: a rep works most tasks within a day |
//! | booking | 45% of interested replies, 1–72 h after the reply | chosen |
//!
//! Score factor: `0.4 + score / 60` (a lead scoring 50 answers 1.23× the base, 80 → 1.73×).
//! Step factor, steps 1–6: 1.3, 0.8, 0.9, 0.8, 0.8, 1.2 (first touches and break-ups draw
//! the most replies). Reply categories: interested 25%, objection 22% (budget 8, timing 9,
//! competitor 5), not interested 20%, out of office 15% (back 3–14 days later),
//! unsubscribe 10%, referral 8% (chosen, close to what reply-classification vendors
//! publish: about a quarter positive, a sixth auto-replies).
//!
//! The statistics over the 1,000 demo leads are checked by a unit test against bounds
//! (see `tests`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::personalizer::Framework;
use crate::personalizer::ab::fnv1a64;
use crate::replies::{ObjectionKind, ReplyCategory};
use crate::reviver::PlannedStep;
use crate::scraper::EmailVerification;

/// Complaints per delivered email.
pub const COMPLAINT_RATE: f64 = 0.0004;
/// Base reply rate of an email, before the score and step factors.
pub const EMAIL_REPLY_BASE: f64 = 0.018;
pub const SMS_REPLY_BASE: f64 = 0.035;
pub const LINKEDIN_REPLY_BASE: f64 = 0.025;
/// STOPs per delivered text.
pub const SMS_STOP_RATE: f64 = 0.02;
pub const LINKEDIN_DONE_RATE: f64 = 0.85;
/// Share of interested replies that book a meeting.
pub const BOOKING_SHARE: f64 = 0.45;
/// Reply factor by step (1-based, index 0 = step 1).
pub const STEP_FACTOR: [f64; 6] = [1.3, 0.8, 0.9, 0.8, 0.8, 1.2];

/// Hard-bounce probability of an address by its verification status.
pub fn bounce_rate(status: EmailVerification) -> f64 {
    match status {
        EmailVerification::Valid => 0.008,
        EmailVerification::AcceptAll => 0.05,
        EmailVerification::Webmail => 0.02,
        EmailVerification::Unverified => 0.06,
        EmailVerification::Unknown => 0.08,
        EmailVerification::Invalid | EmailVerification::Disposable => 1.0,
    }
}

/// The reply factor of a lead's reactivation score.
pub fn score_factor(score: u8) -> f64 {
    0.4 + f64::from(score.min(100)) / 60.0
}

/// One message sent (or task created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub lead_id: String,
    /// 1-based step of the sequence.
    pub step: u8,
    pub channel: Channel,
    pub framework: Framework,
    pub sent_at: DateTime<Utc>,
}

/// What the world knows about the lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    /// `reviver::reactivation_score` total.
    pub score: u8,
    pub email_status: EmailVerification,
    pub first_name: String,
    /// The lead's company domain, for referral addresses.
    pub company_domain: String,
}

/// Something a provider or a person does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorldEvent {
    Delivered,
    HardBounce,
    Complaint,
    /// A reply (email, SMS or LinkedIn) with the category it was written to have.
    Reply {
        intended: ReplyCategory,
        text: String,
    },
    SmsStop {
        text: String,
    },
    Booked,
    /// The LinkedIn task was marked done by the rep.
    TaskDone,
}

impl WorldEvent {
    /// The signal the sequence receives for it (docs/agents.md), if any.
    pub fn signal(&self) -> Option<&'static str> {
        Some(match self {
            WorldEvent::Delivered => return None,
            WorldEvent::HardBounce => "lead.bounced",
            WorldEvent::Complaint => "lead.complained",
            WorldEvent::Reply { intended, .. } => match intended {
                ReplyCategory::OutOfOffice { .. } => "lead.out_of_office",
                ReplyCategory::Unsubscribe => "lead.unsubscribed",
                _ => "lead.replied",
            },
            WorldEvent::SmsStop { .. } => "lead.stop",
            WorldEvent::Booked => "lead.booked",
            WorldEvent::TaskDone => "linkedin.done",
        })
    }

    /// Whether it ends the lead's sequence (everything but delivery, a done task and an
    /// out-of-office reply, which pauses it).
    pub fn ends_sequence(&self) -> bool {
        match self {
            WorldEvent::Delivered | WorldEvent::TaskDone => false,
            WorldEvent::Reply { intended, .. } => {
                !matches!(intended, ReplyCategory::OutOfOffice { .. })
            }
            _ => true,
        }
    }
}

/// An event at its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Happening {
    pub at: DateTime<Utc>,
    pub event: WorldEvent,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(lead_id: &str, step: u8, what: &str) -> u64 {
    let mut bytes = Vec::with_capacity(lead_id.len() + what.len() + 3);
    bytes.extend_from_slice(lead_id.as_bytes());
    bytes.extend_from_slice(&[0x1f, step, 0x1f]);
    bytes.extend_from_slice(what.as_bytes());
    mix(fnv1a64(&bytes))
}

/// A number in `[0, 1)` for this decision.
fn roll(lead_id: &str, step: u8, what: &str) -> f64 {
    (hash(lead_id, step, what) >> 11) as f64 / (1u64 << 53) as f64
}

/// A number in `lo..=hi` for this decision.
fn span(lead_id: &str, step: u8, what: &str, lo: i64, hi: i64) -> i64 {
    let width = u64::try_from(hi - lo + 1).unwrap_or(1).max(1);
    lo + i64::try_from(hash(lead_id, step, what) % width).unwrap_or(0)
}

const COLLEAGUES: [(&str, &str); 6] = [
    ("Maria", "Lopez"),
    ("Tom", "Becker"),
    ("Priya", "Nair"),
    ("Sam", "Okafor"),
    ("Lena", "Fischer"),
    ("Ken", "Sato"),
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn long_date(date: NaiveDate) -> String {
    use chrono::Datelike;
    let month = MONTHS[usize::try_from(date.month0()).unwrap_or(0)];
    format!("{} {month} {}", date.day(), date.year())
}

/// The reply categories with their weights (per mille); see the module docs.
fn pick_category(roll: f64) -> usize {
    const WEIGHTS: [u32; 8] = [250, 80, 90, 50, 200, 150, 100, 80];
    let mut at = (roll * 1000.0) as u32;
    for (i, w) in WEIGHTS.iter().enumerate() {
        if at < *w {
            return i;
        }
        at -= w;
    }
    WEIGHTS.len() - 1
}

/// The reply of kind `kind` (index into the category table), variant `variant`.
fn reply(
    kind: usize,
    variant: u64,
    f: &Features,
    received: NaiveDate,
    away_days: i64,
) -> (ReplyCategory, String) {
    let v = usize::try_from(variant).unwrap_or(0);
    let me = &f.first_name;
    let texts = |options: &[String]| options[v % options.len()].clone();
    match kind {
        0 => (
            ReplyCategory::Interested,
            texts(&[
                format!("Sounds interesting. Can you send over a few times for a call next week?\n\n{me}"),
                "Good timing actually, we are revisiting this. Happy to chat, what does your availability look like on Thursday?".into(),
                format!("Yes, let's talk. Feel free to book a slot in my calendar.\n{me}"),
                "Thanks for following up. Can you send pricing for a team of 20?".into(),
            ]),
        ),
        1..=3 => {
            let (kind, options) = match kind {
                1 => (
                    ObjectionKind::Budget,
                    vec![
                        "Honestly it's too expensive for us at the moment.".to_owned(),
                        "We have no budget for this until the new fiscal year starts.".into(),
                    ],
                ),
                2 => (
                    ObjectionKind::Timing,
                    vec![
                        "Not right now, we are in the middle of a reorg. Maybe next quarter.".to_owned(),
                        format!("Bad timing for us, could you circle back in the spring?\n{me}"),
                    ],
                ),
                _ => (
                    ObjectionKind::Competitor,
                    vec![
                        "We already use another vendor for this and it works for us.".to_owned(),
                        "We signed with a competitor last spring, so we are covered.".into(),
                    ],
                ),
            };
            (ReplyCategory::Objection { kind }, texts(&options))
        }
        4 => (
            ReplyCategory::NotInterested,
            texts(&[
                "Not interested, thanks.".into(),
                format!("No thank you, we're all set.\n{me}"),
                "This is not a fit for us. Please close my file.".into(),
            ]),
        ),
        5 => {
            let back = received + Duration::days(away_days);
            let date = long_date(back);
            (
                ReplyCategory::OutOfOffice {
                    return_date: Some(back),
                },
                texts(&[
                    format!("Automatic reply: I am out of the office until {date} with limited access to email."),
                    format!("Thank you for your message. I am on annual leave and back on {date}."),
                    format!("I'm currently out of the office, returning {date}. For urgent matters please call the front desk."),
                ]),
            )
        }
        6 => (
            ReplyCategory::Unsubscribe,
            texts(&[
                "Please remove me from your list.".into(),
                "Unsubscribe".into(),
                "Stop emailing me please, I have asked before.".into(),
            ]),
        ),
        _ => {
            let (first, last) = COLLEAGUES[v % COLLEAGUES.len()];
            let name = format!("{first} {last}");
            let email = format!(
                "{}.{}@{}",
                first.to_lowercase(),
                last.to_lowercase(),
                f.company_domain
            );
            let text = if v % 2 == 0 {
                format!("I'm not the right person for this. Please reach out to {name} at {email}, who runs operations.")
            } else {
                format!("Thanks, but please get in touch with {name} ({email}), our head of sales ops.")
            };
            (
                ReplyCategory::Referral {
                    name: Some(name),
                    email: Some(email),
                },
                text,
            )
        }
    }
}

const STOP_TEXTS: [&str; 5] = ["STOP", "Stop", "stop.", "UNSUBSCRIBE", "Quit"];

fn at(touch: &Touch, what: &str, lo: i64, hi: i64) -> DateTime<Utc> {
    touch.sent_at + Duration::seconds(span(&touch.lead_id, touch.step, what, lo, hi))
}

/// Everything that happens to one touch, in time order.
pub fn simulate(touch: &Touch, f: &Features) -> Vec<Happening> {
    let (id, step) = (touch.lead_id.as_str(), touch.step);
    let mut out = Vec::new();
    let base = match touch.channel {
        Channel::Email => {
            // The address bounces or not, whichever step first reaches it.
            if roll(id, 0, "bounce") < bounce_rate(f.email_status) {
                out.push(Happening {
                    at: at(touch, "bounce-at", 3, 120),
                    event: WorldEvent::HardBounce,
                });
                return out;
            }
            out.push(Happening {
                at: at(touch, "delivered-at", 2, 40),
                event: WorldEvent::Delivered,
            });
            if roll(id, step, "complaint") < COMPLAINT_RATE {
                out.push(Happening {
                    at: at(touch, "complaint-at", 3600, 48 * 3600),
                    event: WorldEvent::Complaint,
                });
                return out;
            }
            EMAIL_REPLY_BASE
        }
        Channel::Sms => {
            out.push(Happening {
                at: at(touch, "delivered-at", 5, 30),
                event: WorldEvent::Delivered,
            });
            if roll(id, step, "stop") < SMS_STOP_RATE {
                let text =
                    STOP_TEXTS[usize::try_from(hash(id, step, "stop-text") % 5).unwrap_or(0)];
                out.push(Happening {
                    at: at(touch, "stop-at", 60, 90 * 60),
                    event: WorldEvent::SmsStop { text: text.into() },
                });
                return out;
            }
            SMS_REPLY_BASE
        }
        Channel::Linkedin => {
            if roll(id, step, "task") >= LINKEDIN_DONE_RATE {
                return out;
            }
            out.push(Happening {
                at: at(touch, "task-at", 2 * 3600, 30 * 3600),
                event: WorldEvent::TaskDone,
            });
            LINKEDIN_REPLY_BASE
        }
    };
    let step_factor = STEP_FACTOR[usize::from(step.clamp(1, 6) - 1)];
    if roll(id, step, "reply") >= base * score_factor(f.score) * step_factor {
        return out;
    }
    let replied_at = at(touch, "reply-at", 3600, 72 * 3600);
    let kind = pick_category(roll(id, step, "category"));
    let away = span(id, step, "away-days", 3, 14);
    let (intended, text) = reply(
        kind,
        hash(id, step, "variant") % 64,
        f,
        replied_at.date_naive(),
        away,
    );
    let interested = intended == ReplyCategory::Interested;
    out.push(Happening {
        at: replied_at,
        event: WorldEvent::Reply { intended, text },
    });
    if interested && roll(id, step, "booking") < BOOKING_SHARE {
        out.push(Happening {
            at: replied_at + Duration::seconds(span(id, step, "booking-at", 3600, 72 * 3600)),
            event: WorldEvent::Booked,
        });
    }
    out
}

/// One lead's whole sequence in the simulated world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRun {
    pub touches: Vec<(Touch, Vec<Happening>)>,
    /// The event that stopped the sequence, if one did.
    pub ended_by: Option<Happening>,
}

/// Runs a plan from `start`: each step at its day offset, shifted past an out-of-office
/// return date, until an event ends the sequence (as the definition's `on_signal` does).
pub fn run_sequence(
    lead_id: &str,
    f: &Features,
    plan: &[PlannedStep],
    start: DateTime<Utc>,
) -> SequenceRun {
    let mut run = SequenceRun {
        touches: Vec::new(),
        ended_by: None,
    };
    let mut shift = Duration::zero();
    let mut resume: Option<DateTime<Utc>> = None;
    for planned in plan {
        let planned_at = start + Duration::days(i64::from(planned.day_offset));
        // After an out-of-office the next touch goes out on the lead's return, and the
        // gaps after it count from there (the definition's resume step does the same).
        if let Some(back) = resume.take() {
            shift = back - planned_at;
        }
        let touch = Touch {
            lead_id: lead_id.to_owned(),
            step: planned.step,
            channel: planned.channel,
            framework: planned.framework,
            sent_at: planned_at + shift,
        };
        let happenings = simulate(&touch, f);
        for h in &happenings {
            if let WorldEvent::Reply {
                intended:
                    ReplyCategory::OutOfOffice {
                        return_date: Some(back),
                    },
                ..
            } = &h.event
            {
                let back = back.and_time(chrono::NaiveTime::MIN).and_utc() + Duration::days(1);
                resume = Some(back.max(h.at));
            }
        }
        let end = happenings.iter().find(|h| h.event.ends_sequence()).cloned();
        run.touches.push((touch, happenings));
        if end.is_some() {
            run.ended_by = end;
            break;
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{self, as_of};
    use crate::icp;
    use crate::replies::{classify, is_sms_stop};
    use crate::reviver::{channel_strategy, reactivation_score, recoverability, sequence_plan};

    fn features() -> Features {
        Features {
            score: 60,
            email_status: EmailVerification::Valid,
            first_name: "Ana".into(),
            company_domain: "northwindlabs.example".into(),
        }
    }

    #[test]
    fn every_reply_text_classifies_as_written() {
        let f = features();
        let days = [
            NaiveDate::from_ymd_opt(2026, 11, 27),
            NaiveDate::from_ymd_opt(2026, 12, 28),
            NaiveDate::from_ymd_opt(2027, 2, 20),
        ];
        for received in days.into_iter().flatten() {
            for kind in 0..8 {
                for variant in 0..12 {
                    for away in [3, 9, 14] {
                        let (intended, text) = reply(kind, variant, &f, received, away);
                        let got = classify(&text, received);
                        assert_eq!(got.category, intended, "{text:?} ({:?})", got.evidence);
                    }
                }
            }
        }
        for text in STOP_TEXTS {
            assert!(is_sms_stop(text), "{text}");
            assert_eq!(
                classify(text, as_of().date_naive()).category,
                ReplyCategory::Unsubscribe
            );
        }
    }

    fn demo_runs() -> Vec<SequenceRun> {
        let leads = demo::generate_leads(demo::SEED, demo::LEAD_COUNT);
        let won: Vec<icp::WonCustomer> = demo::generate_won_customers(demo::SEED, demo::WON_COUNT)
            .iter()
            .map(demo::DemoWonCustomer::won_customer)
            .collect();
        let profile = icp::build_profile(&won);
        leads
            .iter()
            .filter_map(|l| {
                let points = reactivation_score(&l.dead_lead(0), as_of()).engagement;
                let fit = icp::lead_score(&profile, &l.icp_lead(points)).total;
                let dead = l.dead_lead(fit);
                recoverability(&dead).ok()?;
                let plan = sequence_plan(&channel_strategy(&dead.contact));
                let f = Features {
                    score: reactivation_score(&dead, as_of()).total,
                    email_status: l.email_status,
                    first_name: l.first_name.clone(),
                    company_domain: l.company.domain.clone(),
                };
                Some(run_sequence(&l.id, &f, &plan, as_of()))
            })
            .collect()
    }

    fn happenings(runs: &[SequenceRun]) -> impl Iterator<Item = (&Touch, &Happening)> {
        runs.iter()
            .flat_map(|r| r.touches.iter())
            .flat_map(|(t, hs)| hs.iter().map(move |h| (t, h)))
    }

    #[test]
    fn simulated_replies_over_the_demo_leads_classify_as_written() {
        let runs = demo_runs();
        let mut replies = 0;
        for (_, h) in happenings(&runs) {
            if let WorldEvent::Reply { intended, text } = &h.event {
                replies += 1;
                assert_eq!(
                    &classify(text, h.at.date_naive()).category,
                    intended,
                    "{text}"
                );
            }
        }
        assert!(replies > 30, "{replies} replies");
    }

    fn rate(part: usize, whole: usize) -> f64 {
        part as f64 / whole.max(1) as f64
    }

    #[test]
    fn rates_over_the_demo_leads_land_within_the_stated_bounds() {
        let runs = demo_runs();
        let count = |p: &dyn Fn(&Touch, &WorldEvent) -> bool| {
            happenings(&runs).filter(|(t, h)| p(t, &h.event)).count()
        };
        let emailed = runs
            .iter()
            .filter(|r| r.touches.iter().any(|(t, _)| t.channel == Channel::Email))
            .count();
        let bounced = count(&|_, e| *e == WorldEvent::HardBounce);
        let email_delivered =
            count(&|t, e| t.channel == Channel::Email && *e == WorldEvent::Delivered);
        let sms_delivered = count(&|t, e| t.channel == Channel::Sms && *e == WorldEvent::Delivered);
        let reached = email_delivered + sms_delivered + count(&|_, e| *e == WorldEvent::TaskDone);
        let complaints = count(&|_, e| *e == WorldEvent::Complaint);
        let replies = count(&|_, e| matches!(e, WorldEvent::Reply { .. }));
        let interested = count(&|_, e| {
            matches!(
                e,
                WorldEvent::Reply {
                    intended: ReplyCategory::Interested,
                    ..
                }
            )
        });
        let stops = count(&|_, e| matches!(e, WorldEvent::SmsStop { .. }));
        let booked = count(&|_, e| *e == WorldEvent::Booked);
        let replied_leads = runs
            .iter()
            .filter(|r| {
                r.touches
                    .iter()
                    .flat_map(|(_, hs)| hs)
                    .any(|h| matches!(h.event, WorldEvent::Reply { .. }))
            })
            .count();
        let stats = [
            (
                "hard bounces per emailed lead",
                rate(bounced, emailed),
                0.01,
                0.04,
            ),
            (
                "complaints per delivered email",
                rate(complaints, email_delivered),
                0.0,
                0.001,
            ),
            (
                "replies per reached touch",
                rate(replies, reached),
                0.01,
                0.05,
            ),
            (
                "leads who replied",
                rate(replied_leads, runs.len()),
                0.05,
                0.20,
            ),
            (
                "interested share of replies",
                rate(interested, replies),
                0.15,
                0.40,
            ),
            (
                "meetings per sequenced lead",
                rate(booked, runs.len()),
                0.005,
                0.06,
            ),
            (
                "STOPs per delivered text",
                rate(stops, sms_delivered),
                0.002,
                0.05,
            ),
        ];
        eprintln!(
            "{} leads sequenced, {emailed} emailed, {email_delivered} emails and {sms_delivered} texts delivered, {replies} replies",
            runs.len()
        );
        for (what, value, lo, hi) in stats {
            eprintln!(
                "{what}: {:.2}% (bounds {:.1}%–{:.1}%)",
                value * 100.0,
                lo * 100.0,
                hi * 100.0
            );
            assert!(
                (lo..=hi).contains(&value),
                "{what}: {value:.4} outside {lo}..={hi}"
            );
        }
    }

    #[test]
    fn the_world_is_deterministic_and_bounces_are_per_address() {
        let touch = |step| Touch {
            lead_id: "lead-0042".into(),
            step,
            channel: Channel::Email,
            framework: Framework::Pas,
            sent_at: as_of(),
        };
        let f = features();
        assert_eq!(simulate(&touch(1), &f), simulate(&touch(1), &f));
        let doomed = Features {
            email_status: EmailVerification::Invalid,
            ..features()
        };
        for step in 1..=6 {
            let events = simulate(&touch(step), &doomed);
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].event, WorldEvent::HardBounce);
            assert_eq!(events[0].event.signal(), Some("lead.bounced"));
        }
    }

    #[test]
    fn an_out_of_office_pauses_the_sequence_until_the_lead_is_back() {
        let runs = demo_runs();
        let paused = runs.iter().find_map(|r| {
            r.touches.windows(2).find_map(|w| {
                w[0].1.iter().find_map(|h| match &h.event {
                    WorldEvent::Reply {
                        intended:
                            ReplyCategory::OutOfOffice {
                                return_date: Some(back),
                            },
                        ..
                    } => Some((*back, w[1].0.sent_at)),
                    _ => None,
                })
            })
        });
        let (back, next) = paused.expect("the demo has an out-of-office followed by a touch");
        assert_eq!(next.date_naive(), back.succ_opt().unwrap());
    }
}
