//! Reply classification: a deterministic keyword classifier (the fallback when the LLM
//! is unavailable or its answer fails validation) and the validation of an LLM's answer.
//!
//! Categories: interested, objection (budget / timing / competitor / other),
//! not_interested, out_of_office (with the return date when one is given, see
//! [`dates`]), unsubscribe, referral (with the referred name and/or email).
//!
//! # The deterministic classifier
//!
//! Quoted history is dropped first (lines starting with `>`, and everything from an
//! `On … wrote:`, `-----Original Message-----` or `From:` line on), so our own footer's
//! "unsubscribe" in a quoted reply never counts. The text is lower-cased, punctuation
//! becomes spaces, and phrases match on word boundaries. The first matching rule wins:
//!
//! 1. an SMS opt-out keyword as the whole message (TCPA, DOMAIN.md: STOP, QUIT, END,
//!    REVOKE, OPT OUT, CANCEL, UNSUBSCRIBE) or an unsubscribe phrase → unsubscribe (0.95);
//! 2. an out-of-office phrase → out_of_office (0.9);
//! 3. a referral phrase with a name or an email after it, or a redirecting phrase such
//!    as "the right person" → referral (0.8);
//! 4. a budget, timing or competitor objection phrase → objection (0.7);
//! 5. a refusal phrase → not_interested (0.8);
//! 6. an interest phrase → interested (0.7);
//! 7. nothing matched → objection of kind `other` with confidence 0.3 (chosen: every
//!    human reply stops the sequence anyway; an unread intent deserves a considered
//!    answer, not an automatic booking link).

pub mod dates;
pub mod llm;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::channel::is_email_address;

pub use dates::return_date;
pub use llm::{MIN_LLM_CONFIDENCE, validate_llm_classification};

/// What kind of objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectionKind {
    Budget,
    Timing,
    Competitor,
    Other,
}

/// A reply's category with what was extracted from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "category", rename_all = "snake_case")]
pub enum ReplyCategory {
    Interested,
    Objection {
        kind: ObjectionKind,
    },
    NotInterested,
    OutOfOffice {
        return_date: Option<NaiveDate>,
    },
    Unsubscribe,
    Referral {
        name: Option<String>,
        email: Option<String>,
    },
}

impl ReplyCategory {
    /// The snake_case name, as serialized.
    pub fn name(&self) -> &'static str {
        match self {
            ReplyCategory::Interested => "interested",
            ReplyCategory::Objection { .. } => "objection",
            ReplyCategory::NotInterested => "not_interested",
            ReplyCategory::OutOfOffice { .. } => "out_of_office",
            ReplyCategory::Unsubscribe => "unsubscribe",
            ReplyCategory::Referral { .. } => "referral",
        }
    }
}

/// Who classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classifier {
    Rules,
    Llm,
}

/// A classified reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: ReplyCategory,
    pub confidence: f64,
    pub classifier: Classifier,
    /// The phrase that decided (rules) or the model's stated reason (LLM).
    pub evidence: String,
}

/// SMS opt-out keywords (DOMAIN.md, TCPA).
pub const SMS_STOP_KEYWORDS: [&str; 7] = [
    "stop",
    "quit",
    "end",
    "revoke",
    "opt out",
    "cancel",
    "unsubscribe",
];

const UNSUBSCRIBE: &[&str] = &[
    "unsubscribe",
    "remove me",
    "take me off",
    "stop emailing",
    "stop contacting",
    "stop sending",
    "stop texting",
    "stop messaging",
    "do not contact",
    "don't contact",
    "do not email",
    "don't email",
    "opt out",
    "opt me out",
    "no more emails",
    "leave me alone",
    "please stop",
    "remove my email",
    "remove my details",
    "delete my data",
];
const OUT_OF_OFFICE: &[&str] = &[
    "out of office",
    "out of the office",
    "ooo",
    "on vacation",
    "on holiday",
    "on leave",
    "parental leave",
    "maternity leave",
    "paternity leave",
    "annual leave",
    "away from the office",
    "away until",
    "limited access to email",
    "limited access to my email",
    "automatic reply",
    "auto reply",
    "autoreply",
    "currently away",
    "currently out",
    "i am away",
    "i'm away",
    "i will be out",
    "i'll be out",
    "back in the office",
];
const REFERRAL_CUES: &[&str] = &[
    "reach out to",
    "get in touch with",
    "speak with",
    "speak to",
    "talk to",
    "contact",
    "email",
    "ping",
    "try",
    "forwarded this to",
    "forwarding this to",
    "looping in",
    "cc'ing",
    "connect with",
];
const REDIRECTS: &[&str] = &[
    "right person",
    "better person",
    "best person",
    "my colleague",
    "in charge of",
    "responsible for",
    "handles this",
    "who handles",
    "no longer with",
    "no longer at",
    "left the company",
];
const BUDGET: &[&str] = &[
    "too expensive",
    "no budget",
    "budget is",
    "budget for",
    "can't afford",
    "cannot afford",
    "costs too much",
    "price is too high",
    "out of our budget",
];
const TIMING: &[&str] = &[
    "not right now",
    "not now",
    "bad time",
    "bad timing",
    "next quarter",
    "next year",
    "in a few months",
    "later this year",
    "maybe later",
    "circle back",
    "check back",
    "reach back out",
    "not a priority right now",
];
const COMPETITOR: &[&str] = &[
    "already use",
    "already using",
    "already have a",
    "already work with",
    "happy with our current",
    "under contract",
    "signed with",
    "went with",
    "locked in",
];
const NOT_INTERESTED: &[&str] = &[
    "not interested",
    "no thanks",
    "no thank you",
    "not a fit",
    "not a good fit",
    "not for us",
    "we're all set",
    "we are all set",
    "not relevant",
    "don't need",
    "do not need",
    "no need",
    "pass on this",
    "we'll pass",
    "not looking",
    "no longer with",
    "no longer at",
    "left the company",
];
const INTERESTED: &[&str] = &[
    "interested",
    "let's talk",
    "lets talk",
    "let's chat",
    "sounds good",
    "sounds interesting",
    "book a",
    "schedule",
    "set up a call",
    "set up a meeting",
    "happy to chat",
    "happy to talk",
    "tell me more",
    "send me more",
    "more info",
    "more information",
    "calendar",
    "availability",
    "available",
    "what times",
    "demo",
    "call me",
    "send me",
    "send over",
    "pricing",
    "how much",
    "quote",
    "yes",
    "sure",
];
/// Capitalized words after a cue that are not a person's name.
const NOT_NAMES: &[&str] = &[
    "me",
    "us",
    "you",
    "him",
    "her",
    "them",
    "our",
    "my",
    "the",
    "a",
    "an",
    "i",
    "someone",
    "sales",
    "support",
    "hr",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "next",
    "again",
    "later",
];

/// Drops quoted history (see module docs).
pub fn strip_quoted(text: &str) -> String {
    let mut kept = Vec::new();
    for line in text.lines() {
        let t = line.trim().to_lowercase();
        let header = (t.starts_with("on ") && t.ends_with("wrote:"))
            || t.starts_with("-----original message")
            || t.starts_with("from:");
        if header {
            break;
        }
        if !t.starts_with('>') {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// Lower case, curly apostrophes straightened, everything but letters, digits and `'`
/// turned into single spaces, padded with a space on each side.
fn normalize(text: &str) -> String {
    let cleaned: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' => '\'',
            c if c.is_alphanumeric() || c == '\'' => c,
            _ => ' ',
        })
        .collect();
    format!(
        " {} ",
        cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

fn find<'a>(normalized: &str, phrases: &[&'a str]) -> Option<&'a str> {
    phrases
        .iter()
        .copied()
        .find(|p| normalized.contains(&format!(" {p} ")))
}

/// Whether an SMS body is an opt-out keyword (whole message, any case, punctuation
/// ignored), as carriers match them.
pub fn is_sms_stop(body: &str) -> bool {
    SMS_STOP_KEYWORDS.contains(&normalize(body).trim())
}

fn first_email(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '"'))
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .trim_start_matches("mailto:")
        })
        .find(|w| is_email_address(w))
        .map(str::to_lowercase)
}

fn clean_word(w: &str) -> &str {
    w.trim_matches(|c: char| !c.is_alphanumeric())
}

fn is_name_word(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase)
        && w.chars().all(char::is_alphabetic)
        && !NOT_NAMES.contains(&w.to_lowercase().as_str())
}

/// Who a referral cue points at: capitalized words (1 to 3) right after the cue, and an
/// email right after the cue or within six words after the name ("contact Jane Doe at
/// jane@acme.io"). A cue followed by "me"/"us" points nowhere.
fn referral_target(text: &str) -> Option<(Option<String>, Option<String>)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| clean_word(w).to_lowercase()).collect();
    for cue in REFERRAL_CUES {
        let cue_words: Vec<&str> = cue.split(' ').collect();
        for start in 0..words.len() {
            let end = start + cue_words.len();
            if end > words.len()
                || !cue_words
                    .iter()
                    .zip(&lower[start..end])
                    .all(|(c, w)| w == c)
            {
                continue;
            }
            let name: Vec<&str> = words[end..]
                .iter()
                .map(|w| clean_word(w))
                .take_while(|w| is_name_word(w))
                .take(3)
                .collect();
            let email = words[end + name.len()..]
                .iter()
                .take(if name.is_empty() { 1 } else { 6 })
                .map(|w| clean_word(w).trim_start_matches("mailto:"))
                .find(|w| is_email_address(w))
                .map(str::to_lowercase);
            if !name.is_empty() || email.is_some() {
                let name = (!name.is_empty()).then(|| name.join(" "));
                return Some((name, email));
            }
        }
    }
    None
}

fn rules(category: ReplyCategory, confidence: f64, evidence: &str) -> Classification {
    Classification {
        category,
        confidence,
        classifier: Classifier::Rules,
        evidence: evidence.into(),
    }
}

/// Classifies a reply received on `received` (for relative return dates).
pub fn classify(text: &str, received: NaiveDate) -> Classification {
    let own = strip_quoted(text);
    let n = normalize(&own);
    if is_sms_stop(&own) {
        return rules(ReplyCategory::Unsubscribe, 0.95, n.trim());
    }
    if let Some(p) = find(&n, UNSUBSCRIBE) {
        return rules(ReplyCategory::Unsubscribe, 0.95, p);
    }
    if let Some(p) = find(&n, OUT_OF_OFFICE) {
        return rules(
            ReplyCategory::OutOfOffice {
                return_date: return_date(&own, received),
            },
            0.9,
            p,
        );
    }
    if let Some(c) = referral(&own, &n) {
        return c;
    }
    let objections = [
        (BUDGET, ObjectionKind::Budget),
        (TIMING, ObjectionKind::Timing),
        (COMPETITOR, ObjectionKind::Competitor),
    ];
    for (phrases, kind) in objections {
        if let Some(p) = find(&n, phrases) {
            return rules(ReplyCategory::Objection { kind }, 0.7, p);
        }
    }
    if let Some(p) = find(&n, NOT_INTERESTED) {
        return rules(ReplyCategory::NotInterested, 0.8, p);
    }
    if let Some(p) = find(&n, INTERESTED) {
        return rules(ReplyCategory::Interested, 0.7, p);
    }
    rules(
        ReplyCategory::Objection {
            kind: ObjectionKind::Other,
        },
        0.3,
        "no pattern matched",
    )
}

fn referral(own: &str, n: &str) -> Option<Classification> {
    if let Some((name, email)) = referral_target(own) {
        let evidence = find(n, REFERRAL_CUES).unwrap_or("referral cue");
        return Some(rules(
            ReplyCategory::Referral { name, email },
            0.8,
            evidence,
        ));
    }
    // "Not the right person" with nobody named still redirects; "left the company" alone
    // is a refusal, handled later.
    let redirect = find(n, REDIRECTS)
        .filter(|r| !matches!(*r, "no longer with" | "no longer at" | "left the company"))?;
    Some(rules(
        ReplyCategory::Referral {
            name: None,
            email: first_email(own),
        },
        0.6,
        redirect,
    ))
}

#[cfg(test)]
mod tests;
