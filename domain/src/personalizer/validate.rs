//! Checks an email draft (usually an LLM's) before it may be sent, and counts SMS
//! segments.
//!
//! Limits (DOMAIN.md only asks for honest subjects, CAN-SPAM; the numbers are chosen from
//! common cold-email practice and the reason is given per limit):
//! - subject 1..=60 characters (mobile clients cut around 40–60), not all capitals, not
//!   starting with `Re:`/`Fwd:`/`Fw:` (a fake thread is a deceptive subject, CAN-SPAM);
//! - body 25..=180 words (replies peak at 50–125 words; 25 catches truncated answers);
//! - no unresolved placeholders: `{{x}}`, `{x}`, `[First Name]`, `<<x>>`, `%FIRST_NAME%`;
//! - no forbidden claims ([`FORBIDDEN_CLAIMS`]: promises we cannot keep and spam-filter
//!   triggers);
//! - at most 2 links (link-heavy first touches hurt inbox placement) and at most 1 `!`;
//! - when the lead's first name or company is known, the draft mentions one of them (an
//!   LLM that lost the context writes generic copy).

use serde::{Deserialize, Serialize};

use super::{Draft, MessageContext};

pub const MAX_SUBJECT_CHARS: usize = 60;
pub const MIN_BODY_WORDS: usize = 25;
pub const MAX_BODY_WORDS: usize = 180;
pub const MAX_LINKS: usize = 2;
pub const MAX_EXCLAMATIONS: usize = 1;

/// Phrases a draft must not contain (case-insensitive).
pub const FORBIDDEN_CLAIMS: &[&str] = &[
    "guarantee",
    "100%",
    "risk-free",
    "risk free",
    "no risk",
    "act now",
    "limited time",
    "once in a lifetime",
    "free money",
    "double your",
    "you have been selected",
    "you've been selected",
    "congratulations",
    "winner",
    "as promised",
    "per our conversation",
];

/// One thing wrong with a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum DraftProblem {
    EmptySubject,
    SubjectTooLong { chars: usize, max: usize },
    SubjectAllCaps,
    DeceptiveSubjectPrefix { prefix: String },
    BodyTooShort { words: usize, min: usize },
    BodyTooLong { words: usize, max: usize },
    UnresolvedPlaceholder { text: String },
    ForbiddenClaim { phrase: String },
    TooManyLinks { count: usize, max: usize },
    TooManyExclamations { count: usize, max: usize },
    NotPersonalized,
}

fn subject_problems(subject: &str, problems: &mut Vec<DraftProblem>) {
    let subject = subject.trim();
    let chars = subject.chars().count();
    if chars == 0 {
        problems.push(DraftProblem::EmptySubject);
        return;
    }
    if chars > MAX_SUBJECT_CHARS {
        problems.push(DraftProblem::SubjectTooLong {
            chars,
            max: MAX_SUBJECT_CHARS,
        });
    }
    let letters: Vec<char> = subject.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 4 && letters.iter().all(|c| c.is_uppercase()) {
        problems.push(DraftProblem::SubjectAllCaps);
    }
    let lower = subject.to_lowercase();
    for prefix in ["re:", "fwd:", "fw:"] {
        if lower.starts_with(prefix) {
            problems.push(DraftProblem::DeceptiveSubjectPrefix {
                prefix: prefix.into(),
            });
        }
    }
}

fn is_placeholder_name(inner: &str) -> bool {
    let inner = inner.trim();
    !inner.is_empty()
        && inner.len() <= 40
        && inner.split_whitespace().count() <= 4
        && inner
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ' ' || c == '.')
}

/// Finds `open` … `close` spans whose inside looks like a variable name.
fn delimited(text: &str, open: &str, close: &str, found: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else { break };
        let inner = &after[..end];
        if is_placeholder_name(inner) || open == "{{" {
            found.push(format!("{open}{inner}{close}"));
        }
        rest = &after[end + close.len()..];
    }
}

/// Every unresolved placeholder in `text`, in order of kind.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    delimited(text, "{{", "}}", &mut found);
    delimited(text, "<<", ">>", &mut found);
    let without_double = text.replace("{{", "").replace("}}", "");
    delimited(&without_double, "{", "}", &mut found);
    // `[First Name]`: only capitalized words, so "[sic]" or "[1]" pass.
    let mut brackets = Vec::new();
    delimited(text, "[", "]", &mut brackets);
    found.extend(brackets.into_iter().filter(|b| {
        b.trim_matches(['[', ']'])
            .split([' ', '_'])
            .all(|w| w.chars().next().is_some_and(char::is_uppercase))
    }));
    // `%FIRST_NAME%`
    for token in text.split('%').skip(1).step_by(2) {
        if token.len() >= 2 && token.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            found.push(format!("%{token}%"));
        }
    }
    found
}

fn body_problems(body: &str, problems: &mut Vec<DraftProblem>) {
    let words = body.split_whitespace().count();
    if words < MIN_BODY_WORDS {
        problems.push(DraftProblem::BodyTooShort {
            words,
            min: MIN_BODY_WORDS,
        });
    }
    if words > MAX_BODY_WORDS {
        problems.push(DraftProblem::BodyTooLong {
            words,
            max: MAX_BODY_WORDS,
        });
    }
    let links = body
        .split_whitespace()
        .filter(|w| w.contains("://") || w.trim_start_matches(['(', '<']).starts_with("www."))
        .count();
    if links > MAX_LINKS {
        problems.push(DraftProblem::TooManyLinks {
            count: links,
            max: MAX_LINKS,
        });
    }
}

fn mentions(haystack: &str, needle: Option<&str>) -> bool {
    needle
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .is_some_and(|n| haystack.contains(&n.to_lowercase()))
}

/// `Ok(())` when the draft may be sent, else every problem found.
pub fn validate_draft(draft: &Draft, ctx: &MessageContext) -> Result<(), Vec<DraftProblem>> {
    let mut problems = Vec::new();
    subject_problems(&draft.subject, &mut problems);
    body_problems(&draft.body, &mut problems);
    let all = format!("{}\n{}", draft.subject, draft.body);
    for text in placeholders(&all) {
        problems.push(DraftProblem::UnresolvedPlaceholder { text });
    }
    let lower = all.to_lowercase();
    for phrase in FORBIDDEN_CLAIMS.iter().filter(|p| lower.contains(*p)) {
        problems.push(DraftProblem::ForbiddenClaim {
            phrase: (*phrase).into(),
        });
    }
    let count = all.matches('!').count();
    if count > MAX_EXCLAMATIONS {
        problems.push(DraftProblem::TooManyExclamations {
            count,
            max: MAX_EXCLAMATIONS,
        });
    }
    let known = [ctx.first_name.as_deref(), ctx.company.as_deref()];
    let any_known = known
        .iter()
        .any(|k| k.is_some_and(|s| !s.trim().is_empty()));
    if any_known && !known.iter().any(|k| mentions(&lower, *k)) {
        problems.push(DraftProblem::NotPersonalized);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// How an SMS body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{0c}";

/// Encoding and segment count of an SMS body (DOMAIN.md, Twilio: GSM-7 160 characters
/// in one segment, 153 per segment when split; UCS-2 70, 67 when split). Characters of
/// the GSM-7 extension table count twice.
pub fn sms_segments(body: &str) -> (SmsEncoding, usize) {
    let gsm_units: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match gsm_units {
        Some(units) => (SmsEncoding::Gsm7, units, 160, 153),
        None => (SmsEncoding::Ucs2, body.encode_utf16().count(), 70, 67),
    };
    let segments = match units {
        0 => 0,
        u if u <= single => 1,
        u => u.div_ceil(multi),
    };
    (encoding, segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::personalizer::{Framework, render, tests::ctx};

    fn draft(subject: &str, body: &str) -> Draft {
        Draft {
            subject: subject.into(),
            body: body.into(),
        }
    }

    fn body_words(n: usize) -> String {
        let mut words = vec!["Ana"];
        words.extend(std::iter::repeat_n("word", n.saturating_sub(1)));
        words.join(" ")
    }

    fn problems(d: &Draft) -> Vec<DraftProblem> {
        validate_draft(d, &ctx()).err().unwrap_or_default()
    }

    #[test]
    fn subject_length_is_allowed_up_to_sixty_characters() {
        let body = body_words(50);
        assert!(problems(&draft(&"a".repeat(60), &body)).is_empty());
        assert_eq!(
            problems(&draft(&"a".repeat(61), &body)),
            [DraftProblem::SubjectTooLong { chars: 61, max: 60 }]
        );
        assert_eq!(problems(&draft("  ", &body)), [DraftProblem::EmptySubject]);
    }

    #[test]
    fn body_word_count_is_checked_at_both_ends() {
        assert!(problems(&draft("Hi", &body_words(25))).is_empty());
        assert_eq!(
            problems(&draft("Hi", &body_words(24))),
            [DraftProblem::BodyTooShort { words: 24, min: 25 }]
        );
        assert!(problems(&draft("Hi", &body_words(180))).is_empty());
        assert_eq!(
            problems(&draft("Hi", &body_words(181))),
            [DraftProblem::BodyTooLong {
                words: 181,
                max: 180
            }]
        );
    }

    #[test]
    fn fake_reply_subjects_and_shouting_are_rejected() {
        let body = body_words(50);
        assert_eq!(
            problems(&draft("RE: our call", &body)),
            [DraftProblem::DeceptiveSubjectPrefix {
                prefix: "re:".into()
            }]
        );
        assert_eq!(
            problems(&draft("FREE OFFER", &body)),
            [DraftProblem::SubjectAllCaps]
        );
        assert!(problems(&draft("ROI at Acme", &body)).is_empty());
    }

    #[test]
    fn every_placeholder_style_is_caught() {
        let body = format!(
            "{} {{{{company}}}} {{first_name}} [First Name] <<name>> %FIRST_NAME%",
            body_words(30)
        );
        let found: Vec<String> = problems(&draft("Hi", &body))
            .into_iter()
            .filter_map(|p| match p {
                DraftProblem::UnresolvedPlaceholder { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(
            found,
            [
                "{{company}}",
                "<<name>>",
                "{first_name}",
                "[First Name]",
                "%FIRST_NAME%"
            ]
        );
    }

    #[test]
    fn ordinary_brackets_and_percentages_are_not_placeholders() {
        assert!(placeholders("we grew 40% [sic] in 2025 (see [1]) at 5% cost").is_empty());
    }

    #[test]
    fn forbidden_claims_links_and_exclamations_are_counted() {
        let body = format!(
            "{} Guaranteed results! Really! https://a.io https://b.io https://c.io",
            body_words(30)
        );
        assert_eq!(
            problems(&draft("Hi", &body)),
            [
                DraftProblem::TooManyLinks { count: 3, max: 2 },
                DraftProblem::ForbiddenClaim {
                    phrase: "guarantee".into()
                },
                DraftProblem::TooManyExclamations { count: 2, max: 1 },
            ]
        );
    }

    #[test]
    fn a_draft_that_forgot_the_lead_is_not_personalized() {
        let generic = draft("Hello", &"word ".repeat(40));
        assert_eq!(problems(&generic), [DraftProblem::NotPersonalized]);
        let mentions_company = draft("Hello", &format!("At acme {}", "word ".repeat(40)));
        assert!(problems(&mentions_company).is_empty());
    }

    #[test]
    fn sms_segments_follow_twilios_limits() {
        assert_eq!(sms_segments(""), (SmsEncoding::Gsm7, 0));
        assert_eq!(sms_segments(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_segments(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_segments(&"a".repeat(306)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_segments(&"a".repeat(307)), (SmsEncoding::Gsm7, 3));
        assert_eq!(sms_segments(&"€".repeat(80)), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_segments(&"€".repeat(81)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_segments(&"ł".repeat(70)), (SmsEncoding::Ucs2, 1));
        assert_eq!(sms_segments(&"ł".repeat(71)), (SmsEncoding::Ucs2, 2));
        assert_eq!(sms_segments("hi 👋"), (SmsEncoding::Ucs2, 1));
    }

    #[test]
    fn rendered_templates_fit_one_subject_line() {
        for f in [
            Framework::Pas,
            Framework::Aida,
            Framework::Baf,
            Framework::Fab,
        ] {
            assert!(render(f, &ctx()).subject.chars().count() <= MAX_SUBJECT_CHARS);
        }
    }
}
