//! Which dead leads to revive, how, and in what order.
//!
//! # Reactivation score (0..=100), five factors (weights chosen, DOMAIN.md is silent)
//!
//! | factor | max | points |
//! | --- | --- | --- |
//! | recency of the last touch | 25 | < 30 days: 5 (still fresh in mind, too soon); 30–89: 15; 90–365: 25 (the window where timing objections have usually expired); 366–730: 15; > 730: 5; never touched: 10 |
//! | past engagement | 25 | 10 per meeting + 6 per reply + 2 per click + 1 per open (opens count at most 5: machine opens inflate them), capped at 25 |
//! | stage reached before going cold | 20 | lead 2, MQL 6, SQL 10, demo 14, proposal 18, negotiation 20 |
//! | reason lost | 15 | timing 15, no decision 12, budget 10, champion left 10, unknown/other 8, competitor 6, bad fit 0, do not contact 0 |
//! | ICP fit (`icp::lead_score`) | 15 | `fit * 15 / 100`, rounded |
//!
//! # Recoverable filter
//!
//! Not recoverable, each with its reason: lost as bad fit, marked do-not-contact,
//! present in the suppression ledger, or no usable channel at all (an invalid or
//! disposable email and neither an SMS-consented phone nor a LinkedIn profile).
//!
//! # Channel strategy
//!
//! Email when the address is not undeliverable (see `scraper::email_risk`), email consent
//! is not denied, and, where the country requires prior consent (Germany, UWG §7), it is
//! granted; a lead without a known country gets no email (chosen: the consent gate cannot
//! be applied). SMS when the number is E.164 and SMS consent is granted (TCPA; everywhere,
//! chosen). LinkedIn when a profile URL is known and LinkedIn consent is not denied.
//!
//! # Sequence (six steps over 21 days, chosen from lemlist/Apollo reactivation cadences)
//!
//! | step | day | preferred channel | framework | purpose |
//! | --- | --- | --- | --- | --- |
//! | 1 | 0 | email | PAS | reopen the conversation |
//! | 2 | 2 | LinkedIn | FAB | social touch (human task) |
//! | 3 | 5 | email | AIDA | new value |
//! | 4 | 9 | SMS | BAF | short nudge |
//! | 5 | 14 | email | BAF | proof (a customer's before/after) |
//! | 6 | 21 | email | PAS | break-up |
//!
//! A step whose channel is unavailable falls back to email, then LinkedIn, then SMS; SMS
//! is used at most twice and never on two consecutive steps (chosen: texts are the most
//! intrusive channel); a step with no channel left is dropped.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, Consent, ConsentFlags, email_needs_prior_consent, is_e164};
use crate::personalizer::Framework;
use crate::scraper::{EmailRisk, EmailVerification, email_risk};

/// How far the deal got before it went cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealStage {
    Lead,
    Mql,
    Sql,
    Demo,
    Proposal,
    Negotiation,
}

/// Why the deal was lost, as the CRM recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    Timing,
    NoDecision,
    Budget,
    ChampionLeft,
    Competitor,
    BadFit,
    DoNotContact,
    Unknown,
    Other,
}

/// Past engagement counters (human opens only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Engagement {
    pub opens: u32,
    pub clicks: u32,
    pub replies: u32,
    pub meetings: u32,
}

/// What we know about how to reach the lead.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactData {
    pub email: Option<String>,
    pub email_status: EmailVerification,
    pub phone: Option<String>,
    pub linkedin_url: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub consent: ConsentFlags,
}

/// A dead lead as the reviver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLead {
    pub id: String,
    pub last_touch_at: Option<DateTime<Utc>>,
    pub engagement: Engagement,
    pub stage: DealStage,
    pub lost_reason: LostReason,
    /// ICP fit, `0..=100` (values above 100 are read as 100).
    pub fit: u8,
    pub contact: ContactData,
    /// Whether the global suppression ledger holds any of the lead's addresses.
    pub suppressed: bool,
}

/// The score with each factor's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactivationScore {
    pub total: u8,
    pub recency: u8,
    pub engagement: u8,
    pub stage: u8,
    pub lost_reason: u8,
    pub fit: u8,
}

fn recency_points(last_touch_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> u8 {
    let Some(at) = last_touch_at else { return 10 };
    match now.signed_duration_since(at).num_days() {
        ..30 => 5,
        30..90 => 15,
        90..=365 => 25,
        366..=730 => 15,
        _ => 5,
    }
}

fn engagement_points(e: &Engagement) -> u8 {
    let points = u64::from(e.meetings) * 10
        + u64::from(e.replies) * 6
        + u64::from(e.clicks) * 2
        + u64::from(e.opens.min(5));
    u8::try_from(points.min(25)).unwrap_or(25)
}

fn stage_points(stage: DealStage) -> u8 {
    match stage {
        DealStage::Lead => 2,
        DealStage::Mql => 6,
        DealStage::Sql => 10,
        DealStage::Demo => 14,
        DealStage::Proposal => 18,
        DealStage::Negotiation => 20,
    }
}

fn lost_reason_points(reason: LostReason) -> u8 {
    match reason {
        LostReason::Timing => 15,
        LostReason::NoDecision => 12,
        LostReason::Budget | LostReason::ChampionLeft => 10,
        LostReason::Unknown | LostReason::Other => 8,
        LostReason::Competitor => 6,
        LostReason::BadFit | LostReason::DoNotContact => 0,
    }
}

fn fit_points(fit: u8) -> u8 {
    // (fit * 15 + 50) / 100 rounds half up; fit is capped at 100 first.
    let fit = u16::from(fit.min(100));
    u8::try_from((fit * 15 + 50) / 100).unwrap_or(15)
}

/// The reactivation score of a lead at `now`.
pub fn reactivation_score(lead: &DeadLead, now: DateTime<Utc>) -> ReactivationScore {
    let recency = recency_points(lead.last_touch_at, now);
    let engagement = engagement_points(&lead.engagement);
    let stage = stage_points(lead.stage);
    let lost_reason = lost_reason_points(lead.lost_reason);
    let fit = fit_points(lead.fit);
    ReactivationScore {
        total: recency + engagement + stage + lost_reason + fit,
        recency,
        engagement,
        stage,
        lost_reason,
        fit,
    }
}

/// Why a lead must be left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotRecoverable {
    BadFit,
    DoNotContact,
    Suppressed,
    NoUsableChannel,
}

/// `Ok(())` when the lead may be revived, else the first reason it may not, in the order
/// do-not-contact, suppressed, bad fit, no channel (legal reasons first).
pub fn recoverability(lead: &DeadLead) -> Result<(), NotRecoverable> {
    if lead.lost_reason == LostReason::DoNotContact {
        return Err(NotRecoverable::DoNotContact);
    }
    if lead.suppressed {
        return Err(NotRecoverable::Suppressed);
    }
    if lead.lost_reason == LostReason::BadFit {
        return Err(NotRecoverable::BadFit);
    }
    if channel_strategy(&lead.contact).channels.is_empty() {
        return Err(NotRecoverable::NoUsableChannel);
    }
    Ok(())
}

/// Why a channel was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedChannel {
    pub channel: Channel,
    pub reason: String,
}

/// The channels a lead can be reached on, in preference order email, LinkedIn, SMS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelStrategy {
    pub channels: Vec<Channel>,
    pub excluded: Vec<ExcludedChannel>,
}

fn email_exclusion(contact: &ContactData) -> Option<String> {
    if contact.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Some("no email address".into());
    }
    if email_risk(contact.email_status) == EmailRisk::Undeliverable {
        return Some(format!("email is {:?}", contact.email_status).to_lowercase());
    }
    if contact.consent.email == Consent::Denied {
        return Some("lead objected to email".into());
    }
    match contact.country.as_deref() {
        None => Some("country unknown: the consent gate cannot be applied".into()),
        Some(c) if email_needs_prior_consent(c) && contact.consent.email != Consent::Granted => {
            Some(format!(
                "{} requires prior consent for email",
                c.trim().to_uppercase()
            ))
        }
        Some(_) => None,
    }
}

fn sms_exclusion(contact: &ContactData) -> Option<String> {
    match contact.phone.as_deref() {
        None => Some("no phone number".into()),
        Some(p) if !is_e164(p) => Some("phone is not E.164".into()),
        Some(_) if contact.consent.sms != Consent::Granted => Some("no SMS consent".into()),
        Some(_) => None,
    }
}

fn linkedin_exclusion(contact: &ContactData) -> Option<String> {
    if contact
        .linkedin_url
        .as_deref()
        .is_none_or(|u| u.trim().is_empty())
    {
        return Some("no LinkedIn profile".into());
    }
    (contact.consent.linkedin == Consent::Denied).then(|| "lead objected to LinkedIn".into())
}

/// Which channels may be used for this contact, and why the others may not.
pub fn channel_strategy(contact: &ContactData) -> ChannelStrategy {
    let mut strategy = ChannelStrategy::default();
    let checks = [
        (Channel::Email, email_exclusion(contact)),
        (Channel::Linkedin, linkedin_exclusion(contact)),
        (Channel::Sms, sms_exclusion(contact)),
    ];
    for (channel, exclusion) in checks {
        match exclusion {
            None => strategy.channels.push(channel),
            Some(reason) => strategy.excluded.push(ExcludedChannel { channel, reason }),
        }
    }
    strategy
}

/// What a step is for; the personalizer picks its angle from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPurpose {
    Reopen,
    SocialTouch,
    NewValue,
    Nudge,
    Proof,
    BreakUp,
}

/// One planned touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// 1-based position in the template sequence (kept when a step is dropped).
    pub step: u8,
    pub day_offset: u16,
    pub channel: Channel,
    pub framework: Framework,
    pub purpose: StepPurpose,
}

/// The template sequence: (day, preferred channel, framework, purpose).
pub const SEQUENCE_TEMPLATE: [(u16, Channel, Framework, StepPurpose); 6] = [
    (0, Channel::Email, Framework::Pas, StepPurpose::Reopen),
    (
        2,
        Channel::Linkedin,
        Framework::Fab,
        StepPurpose::SocialTouch,
    ),
    (5, Channel::Email, Framework::Aida, StepPurpose::NewValue),
    (9, Channel::Sms, Framework::Baf, StepPurpose::Nudge),
    (14, Channel::Email, Framework::Baf, StepPurpose::Proof),
    (21, Channel::Email, Framework::Pas, StepPurpose::BreakUp),
];

/// At most this many SMS steps per sequence (chosen).
pub const MAX_SMS_STEPS: usize = 2;

/// The sequence for the channels a strategy allows (see the module docs).
pub fn sequence_plan(strategy: &ChannelStrategy) -> Vec<PlannedStep> {
    let allowed = |c: Channel| strategy.channels.contains(&c);
    let mut plan: Vec<PlannedStep> = Vec::with_capacity(SEQUENCE_TEMPLATE.len());
    for (index, (day, preferred, framework, purpose)) in SEQUENCE_TEMPLATE.into_iter().enumerate() {
        let sms_used = plan.iter().filter(|s| s.channel == Channel::Sms).count();
        // "Consecutive" means neighbouring template steps, not neighbours in the plan.
        let last_was_sms = plan
            .last()
            .is_some_and(|s| s.channel == Channel::Sms && usize::from(s.step) == index);
        let sms_ok = sms_used < MAX_SMS_STEPS && !last_was_sms;
        let channel = [preferred, Channel::Email, Channel::Linkedin, Channel::Sms]
            .into_iter()
            .find(|&c| allowed(c) && (c != Channel::Sms || sms_ok));
        if let Some(channel) = channel {
            let step = u8::try_from(index + 1).unwrap_or(u8::MAX);
            plan.push(PlannedStep {
                step,
                day_offset: day,
                channel,
                framework,
                purpose,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    fn reachable() -> ContactData {
        ContactData {
            email: Some("ana@acme.io".into()),
            email_status: EmailVerification::Valid,
            phone: Some("+14155550100".into()),
            linkedin_url: Some("https://linkedin.com/in/ana".into()),
            country: Some("US".into()),
            consent: ConsentFlags {
                sms: Consent::Granted,
                ..ConsentFlags::default()
            },
        }
    }

    fn lead() -> DeadLead {
        DeadLead {
            id: "lead-1".into(),
            last_touch_at: Some(now() - Duration::days(200)),
            engagement: Engagement {
                opens: 9,
                clicks: 1,
                replies: 1,
                meetings: 0,
            },
            stage: DealStage::Demo,
            lost_reason: LostReason::Timing,
            fit: 80,
            contact: reachable(),
            suppressed: false,
        }
    }

    #[test]
    fn a_demo_lost_on_timing_half_a_year_ago_scores_high() {
        let s = reactivation_score(&lead(), now());
        assert_eq!(
            (s.recency, s.engagement, s.stage, s.lost_reason, s.fit),
            (25, 13, 14, 15, 12)
        );
        assert_eq!(s.total, 79);
    }

    #[test]
    fn recency_points_change_exactly_at_the_documented_days() {
        let at = |days| recency_points(Some(now() - Duration::days(days)), now());
        assert_eq!((at(0), at(29), at(30)), (5, 5, 15));
        assert_eq!((at(89), at(90)), (15, 25));
        assert_eq!((at(365), at(366)), (25, 15));
        assert_eq!((at(730), at(731)), (15, 5));
        assert_eq!(at(-3), 5, "a touch in the future counts as just now");
        assert_eq!(recency_points(None, now()), 10);
    }

    #[test]
    fn engagement_caps_at_twenty_five_and_opens_at_five() {
        assert_eq!(
            engagement_points(&Engagement {
                opens: 1000,
                ..Engagement::default()
            }),
            5
        );
        assert_eq!(
            engagement_points(&Engagement {
                meetings: 2,
                replies: 1,
                ..Engagement::default()
            }),
            25
        );
        assert_eq!(
            engagement_points(&Engagement {
                meetings: u32::MAX,
                replies: u32::MAX,
                clicks: u32::MAX,
                opens: u32::MAX
            }),
            25
        );
    }

    #[test]
    fn fit_rounds_half_up() {
        assert_eq!(
            (
                fit_points(0),
                fit_points(3),
                fit_points(4),
                fit_points(100),
                fit_points(255)
            ),
            (0, 0, 1, 15, 15)
        );
    }

    #[test]
    fn unrecoverable_leads_say_why() {
        let with = |f: fn(&mut DeadLead)| {
            let mut l = lead();
            f(&mut l);
            recoverability(&l)
        };
        assert_eq!(recoverability(&lead()), Ok(()));
        assert_eq!(
            with(|l| l.lost_reason = LostReason::BadFit),
            Err(NotRecoverable::BadFit)
        );
        assert_eq!(
            with(|l| l.lost_reason = LostReason::DoNotContact),
            Err(NotRecoverable::DoNotContact)
        );
        assert_eq!(
            with(|l| l.suppressed = true),
            Err(NotRecoverable::Suppressed)
        );
        assert_eq!(
            with(|l| {
                l.contact.email_status = EmailVerification::Invalid;
                l.contact.phone = None;
                l.contact.linkedin_url = None;
            }),
            Err(NotRecoverable::NoUsableChannel)
        );
    }

    #[test]
    fn germany_needs_email_consent_and_everyone_needs_sms_consent() {
        let mut contact = reachable();
        contact.country = Some("de".into());
        let s = channel_strategy(&contact);
        assert_eq!(s.channels, [Channel::Linkedin, Channel::Sms]);
        assert_eq!(s.excluded[0].reason, "DE requires prior consent for email");
        contact.consent.email = Consent::Granted;
        contact.consent.sms = Consent::Unknown;
        let s = channel_strategy(&contact);
        assert_eq!(s.channels, [Channel::Email, Channel::Linkedin]);
        assert_eq!(s.excluded[0].reason, "no SMS consent");
    }

    #[test]
    fn catch_all_email_is_usable_but_invalid_is_not() {
        let mut contact = reachable();
        contact.email_status = EmailVerification::AcceptAll;
        assert!(
            channel_strategy(&contact)
                .channels
                .contains(&Channel::Email)
        );
        contact.email_status = EmailVerification::Invalid;
        let s = channel_strategy(&contact);
        assert!(!s.channels.contains(&Channel::Email));
        assert_eq!(s.excluded[0].reason, "email is invalid");
    }

    #[test]
    fn a_fully_reachable_lead_gets_the_template_sequence() {
        let plan = sequence_plan(&channel_strategy(&reachable()));
        let shape: Vec<(u16, Channel, Framework)> = plan
            .iter()
            .map(|s| (s.day_offset, s.channel, s.framework))
            .collect();
        assert_eq!(
            shape,
            [
                (0, Channel::Email, Framework::Pas),
                (2, Channel::Linkedin, Framework::Fab),
                (5, Channel::Email, Framework::Aida),
                (9, Channel::Sms, Framework::Baf),
                (14, Channel::Email, Framework::Baf),
                (21, Channel::Email, Framework::Pas),
            ]
        );
    }

    #[test]
    fn missing_channels_fall_back_to_email() {
        let mut contact = reachable();
        contact.phone = None;
        contact.linkedin_url = None;
        let plan = sequence_plan(&channel_strategy(&contact));
        assert_eq!(plan.len(), 6);
        assert!(plan.iter().all(|s| s.channel == Channel::Email));
    }

    #[test]
    fn an_sms_only_lead_gets_two_non_adjacent_texts() {
        let mut contact = reachable();
        contact.email = None;
        contact.linkedin_url = None;
        let plan = sequence_plan(&channel_strategy(&contact));
        let steps: Vec<u8> = plan.iter().map(|s| s.step).collect();
        assert_eq!(steps, [1, 3]);
        assert!(plan.iter().all(|s| s.channel == Channel::Sms));
    }

    fn arb_lead() -> impl Strategy<Value = DeadLead> {
        (
            proptest::option::of(-1000i64..5000),
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
            0usize..6,
            0usize..9,
            any::<u8>(),
        )
            .prop_map(
                |(days, (opens, clicks, replies, meetings), stage, reason, fit)| {
                    let stages = [
                        DealStage::Lead,
                        DealStage::Mql,
                        DealStage::Sql,
                        DealStage::Demo,
                        DealStage::Proposal,
                        DealStage::Negotiation,
                    ];
                    let reasons = [
                        LostReason::Timing,
                        LostReason::NoDecision,
                        LostReason::Budget,
                        LostReason::ChampionLeft,
                        LostReason::Competitor,
                        LostReason::BadFit,
                        LostReason::DoNotContact,
                        LostReason::Unknown,
                        LostReason::Other,
                    ];
                    DeadLead {
                        last_touch_at: days.map(|d| now() - Duration::days(d)),
                        engagement: Engagement {
                            opens,
                            clicks,
                            replies,
                            meetings,
                        },
                        stage: stages[stage],
                        lost_reason: reasons[reason],
                        fit,
                        ..lead()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn score_stays_within_zero_to_one_hundred(l in arb_lead()) {
            let s = reactivation_score(&l, now());
            prop_assert!(s.total <= 100);
            prop_assert_eq!(s.total, s.recency + s.engagement + s.stage + s.lost_reason + s.fit);
        }

        #[test]
        fn plans_respect_the_sms_limits_and_allowed_channels(
            email in any::<bool>(), sms in any::<bool>(), linkedin in any::<bool>()
        ) {
            let channels: Vec<Channel> = [(email, Channel::Email), (linkedin, Channel::Linkedin), (sms, Channel::Sms)]
                .into_iter().filter(|(on, _)| *on).map(|(_, c)| c).collect();
            let plan = sequence_plan(&ChannelStrategy { channels: channels.clone(), excluded: vec![] });
            prop_assert!(plan.len() <= 6);
            prop_assert!(plan.iter().all(|s| channels.contains(&s.channel)));
            prop_assert!(plan.iter().filter(|s| s.channel == Channel::Sms).count() <= MAX_SMS_STEPS);
            prop_assert!(plan.windows(2).all(|w| !(w[0].channel == Channel::Sms
                && w[1].channel == Channel::Sms
                && w[1].step == w[0].step + 1)));
            prop_assert!(plan.windows(2).all(|w| w[0].day_offset < w[1].day_offset));
            prop_assert_eq!(plan.is_empty(), channels.is_empty());
        }
    }
}
