//! The gates every send passes, as pure checks: suppression ledger, consent by country,
//! email send window, SMS quiet hours and the mailbox's daily cap.
//!
//! - Suppression (DOMAIN.md, "One global suppression ledger"): one ledger across
//!   channels; an entry for an address (email, case-insensitive) or a phone (E.164,
//!   punctuation ignored) blocks every send to it from the entry's time on, unless and
//!   until it was lifted. Reasons: unsubscribe, STOP, complaint, hard bounce, objection,
//!   do-not-contact.
//! - Consent: email is refused on `Denied` (GDPR Art. 21), in Germany without `Granted`
//!   (UWG §7), and when the country is unknown (chosen: the gate cannot be applied); SMS
//!   needs `Granted` everywhere (TCPA, chosen for all countries); LinkedIn is refused only
//!   on `Denied` (it is a human task).
//! - SMS quiet hours (TCPA, DOMAIN.md): texts only from 08:00 to 21:00 in the lead's IANA
//!   zone; 21:00:00 itself is already quiet (chosen: "after 21:00" read strictly).
//! - Email send window (chosen default, per Outreach's per-weekday windows): Monday to
//!   Friday, 08:00–18:00 lead-local, minus holidays; DST-correct through chrono-tz.
//! - Daily cap: the warmup cap by mailbox age after health (`deliverability`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, Consent, ConsentFlags, email_needs_prior_consent};
use crate::deliverability::{HealthTier, effective_daily_cap};

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Unsubscribe,
    SmsStop,
    Complaint,
    HardBounce,
    Objection,
    DoNotContact,
}

/// One row of the global suppression ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionEntry {
    /// An email address or an E.164 phone number.
    pub address: String,
    pub reason: SuppressionReason,
    /// The event that caused it (webhook event id, reply id…).
    pub source_event: String,
    pub at: DateTime<Utc>,
    /// Set when an operator lifted the suppression (e.g. a bounce was a mistake).
    pub lifted_at: Option<DateTime<Utc>>,
}

/// The ledger key of an address: lower-case email, or a phone with only `+` and digits.
pub fn normalize_address(address: &str) -> String {
    let trimmed = address.trim();
    if trimmed.contains('@') {
        trimmed.to_lowercase()
    } else {
        trimmed
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect()
    }
}

/// The entry that suppresses `address` at time `at`, if any (the earliest one).
pub fn suppression<'a>(
    ledger: &'a [SuppressionEntry],
    address: &str,
    at: DateTime<Utc>,
) -> Option<&'a SuppressionEntry> {
    let key = normalize_address(address);
    ledger
        .iter()
        .filter(|e| normalize_address(&e.address) == key)
        .filter(|e| e.at <= at && e.lifted_at.is_none_or(|lifted| lifted > at))
        .min_by_key(|e| e.at)
}

/// Why a gate refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum GateRefusal {
    Objected { channel: Channel },
    CountryNeedsConsent { channel: Channel, country: String },
    CountryUnknown { channel: Channel },
    NoSmsConsent,
}

/// The consent/country gate for one channel.
pub fn consent_gate(
    channel: Channel,
    country: Option<&str>,
    consent: &ConsentFlags,
) -> Result<(), GateRefusal> {
    let given = consent.for_channel(channel);
    if given == Consent::Denied {
        return Err(GateRefusal::Objected { channel });
    }
    match channel {
        Channel::Email => match country.map(str::trim).filter(|c| !c.is_empty()) {
            None => Err(GateRefusal::CountryUnknown { channel }),
            Some(c) if email_needs_prior_consent(c) && given != Consent::Granted => {
                Err(GateRefusal::CountryNeedsConsent {
                    channel,
                    country: c.to_uppercase(),
                })
            }
            Some(_) => Ok(()),
        },
        Channel::Sms if given != Consent::Granted => Err(GateRefusal::NoSmsConsent),
        Channel::Sms | Channel::Linkedin => Ok(()),
    }
}

/// TCPA quiet hours: texts from 08:00 (inclusive) to 21:00 (exclusive), lead-local.
pub const SMS_START: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};
pub const SMS_END: NaiveTime = match NaiveTime::from_hms_opt(21, 0, 0) {
    Some(t) => t,
    None => NaiveTime::MIN,
};

/// A daily window on some weekdays, in the lead's zone, minus holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    pub days: Vec<Weekday>,
    /// Inclusive.
    pub start: NaiveTime,
    /// Exclusive; must be after `start` (an empty window never opens).
    pub end: NaiveTime,
    /// Lead-local dates with no sends.
    pub holidays: Vec<NaiveDate>,
}

impl Default for SendWindow {
    /// Monday–Friday 08:00–18:00, no holidays.
    fn default() -> Self {
        SendWindow {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: SMS_START,
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(SMS_END),
            holidays: vec![],
        }
    }
}

impl SendWindow {
    /// Every day, `start..end`: the SMS quiet-hours window.
    pub fn sms() -> SendWindow {
        SendWindow {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            start: SMS_START,
            end: SMS_END,
            holidays: vec![],
        }
    }

    fn day_open(&self, date: NaiveDate) -> bool {
        self.days.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// Whether the instant `at` is inside the window in zone `tz`.
    pub fn contains(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz).naive_local();
        self.day_open(local.date()) && local.time() >= self.start && local.time() < self.end
    }

    /// The first instant at or after `at` inside the window; `None` when the window does
    /// not open within 366 days (no days, empty times, or all holidays).
    pub fn next_open(&self, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.contains(tz, at) {
            return Some(at);
        }
        let today = at.with_timezone(&tz).date_naive();
        (0..=366)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .filter(|date| self.day_open(*date))
            .find_map(|date| self.opening_on(tz, date).filter(|open| *open > at))
    }

    /// The first instant of `date` (lead-local) inside the window. A start that falls in
    /// a DST gap opens when the gap ends; an ambiguous start opens at its first occurrence.
    fn opening_on(&self, tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
        if self.start >= self.end {
            return None;
        }
        let start = date.and_time(self.start);
        // Gaps are at most a few hours; walk minute by minute until the local time exists.
        (0..=24 * 60)
            .filter_map(|m| start.checked_add_signed(Duration::minutes(m)))
            .take_while(|local| local.date() == date && local.time() < self.end)
            .find_map(|local| tz.from_local_datetime(&local).earliest())
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| self.contains(tz, *t))
    }
}

/// Whether an SMS may be sent at `at` to a lead in `tz`.
pub fn sms_allowed(tz: Tz, at: DateTime<Utc>) -> bool {
    SendWindow::sms().contains(tz, at)
}

/// The first instant at or after `at` when an SMS may be sent.
pub fn next_sms_time(tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    SendWindow::sms().next_open(tz, at)
}

/// The mailbox's daily cap check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CapCheck {
    Allowed { remaining: u32 },
    Reached { cap: u32 },
}

/// Whether a mailbox of this age and health may send one more message today.
pub fn mailbox_cap_check(age_days: u32, tier: HealthTier, sent_today: u32) -> CapCheck {
    let cap = effective_daily_cap(age_days, tier);
    match cap.checked_sub(sent_today) {
        Some(remaining) if remaining > 0 => CapCheck::Allowed { remaining },
        _ => CapCheck::Reached { cap },
    }
}

#[cfg(test)]
mod tests;
