//! Keeps e-mail addresses and phone numbers out of logs.
//!
//! Leads are people: their addresses and numbers must not reach log storage at info
//! level. Wrap anything that may hold them (a provider's error text, a webhook
//! payload summary, a URL) in [`redact_pii`] or [`Redacted`] before logging it.
//! The rules err towards redacting: a bare run of 10 to 15 digits (a phone number
//! without its `+`, but also a Unix timestamp) is redacted; dates, IPv4 addresses,
//! decimals, UUIDs and shorter numbers are kept.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What an e-mail address becomes.
pub const EMAIL_PLACEHOLDER: &str = "[email]";
/// What a phone number becomes.
pub const PHONE_PLACEHOLDER: &str = "[phone]";

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    // `%40` is an `@` in a URL-encoded query or path.
    Regex::new(r"(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}\b")
        .expect("the e-mail pattern is valid")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    // A digit run with the separators people write in numbers, starting at a word
    // boundary (or after `+`, `%2B` or `(`) and ending at one: digits glued to
    // letters (hex ids, UUID parts) never match. Which candidates really are phone
    // numbers is decided by `is_phone`.
    Regex::new(r"(?:\+|%2[Bb]|\(|\b)[0-9](?:[0-9().\- ]*[0-9])?\b")
        .expect("the phone pattern is valid")
});

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}").expect("the date pattern is valid")
});

/// Replaces e-mail addresses with `[email]` and phone numbers with `[phone]`.
/// Borrows when there is nothing to redact, which is the common case.
pub fn redact_pii(text: &str) -> Cow<'_, str> {
    // Cheap pre-checks keep the regexes off most log lines.
    let has_at = text.contains('@') || text.contains("%40");
    let emails_gone = if has_at {
        EMAIL.replace_all(text, EMAIL_PLACEHOLDER)
    } else {
        Cow::Borrowed(text)
    };
    if !emails_gone.bytes().any(|b| b.is_ascii_digit()) {
        return emails_gone;
    }
    match PHONE.replace_all(&emails_gone, |caps: &Captures<'_>| {
        let candidate = &caps[0];
        if is_phone(candidate) {
            PHONE_PLACEHOLDER.to_owned()
        } else {
            candidate.to_owned()
        }
    }) {
        // `replace_all` answers `Owned` whenever a candidate matched, even if every
        // candidate was kept; compare to keep borrowing in that case.
        Cow::Owned(changed) if changed != *emails_gone => Cow::Owned(changed),
        _ => emails_gone,
    }
}

fn is_phone(candidate: &str) -> bool {
    let (international, number) = if let Some(rest) = candidate.strip_prefix('+') {
        (true, rest)
    } else if let Some(rest) = candidate
        .strip_prefix("%2B")
        .or_else(|| candidate.strip_prefix("%2b"))
    {
        (true, rest)
    } else {
        (false, candidate)
    };
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let enough = if international { 8..=15 } else { 10..=15 };
    if !enough.contains(&digits) || DATE.is_match(number) {
        return false;
    }
    let separators: Vec<char> = number.chars().filter(|c| !c.is_ascii_digit()).collect();
    let only_dots = !separators.is_empty() && separators.iter().all(|&c| c == '.');
    // `0.12345678901` is a decimal, `192.168.100.200` an IPv4 address.
    let decimal = only_dots && separators.len() == 1;
    let ipv4 = only_dots && separators.len() == 3 && number.split('.').all(|g| g.len() <= 3);
    !(decimal || ipv4)
}

/// Displays its text with [`redact_pii`] applied: `info!(error = %Redacted(&msg))`.
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_pii(self.0))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn emails_are_redacted_wherever_they_appear() {
        assert_eq!(
            redact_pii("bounce from Ann.Lee+crm@mail.acme-corp.co.uk; retrying"),
            "bounce from [email]; retrying"
        );
        assert_eq!(
            redact_pii("GET /verify?email=ann%40acme.com&x=1"),
            "GET /verify?email=[email]&x=1"
        );
        assert_eq!(redact_pii("<bob@example.io>"), "<[email]>");
    }

    #[test]
    fn phone_numbers_are_redacted_in_the_usual_spellings() {
        for phone in [
            "+14155552671",
            "+1 415 555 2671",
            "+44 20 7946 0958",
            "+49 (0)30 123456",
            "(415) 555-2671",
            "415-555-2671",
            "415.555.2671",
            "4155552671",
            "%2B14155552671",
            "+33612345678",
        ] {
            let text = format!("sms to {phone}, status queued");
            assert_eq!(
                redact_pii(&text),
                "sms to [phone], status queued",
                "{phone}"
            );
        }
        assert_eq!(
            redact_pii("From=+12349013030&To=+18005551212"),
            "From=[phone]&To=[phone]"
        );
    }

    #[test]
    fn ids_dates_addresses_and_small_numbers_are_kept() {
        for text in [
            "mission 0192b3c4-5d6e-7f80-9123-456789abcdef step greet attempt 3",
            "mission 01234567-0123-7123-8123-012345678901 done",
            "due 2026-11-03 12:00:00 (late 1250 ms)",
            "connected to 192.168.100.200:5672",
            "score 0.85714285714 after 42 retries",
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
            "rex.agent.reviver:m:s:1 published in 3.5 ms",
            "no personal data here",
        ] {
            assert!(
                matches!(redact_pii(text), Cow::Borrowed(t) if t == text),
                "{text}"
            );
        }
    }

    #[test]
    fn the_display_wrapper_redacts() {
        assert_eq!(
            Redacted("to ann@acme.com / +14155552671").to_string(),
            "to [email] / [phone]"
        );
    }

    fn email() -> impl Strategy<Value = String> {
        (
            "[a-z][a-z0-9]{0,8}",
            proptest::option::of("[._+-][a-z0-9]{1,5}"),
            "[a-z][a-z0-9-]{0,8}[a-z0-9]",
            "(com|io|de|co\\.uk|travel)",
        )
            .prop_map(|(user, tag, domain, tld)| {
                format!("{user}{}@{domain}.{tld}", tag.unwrap_or_default())
            })
    }

    fn phone() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\+[1-9][0-9]{7,14}",
            "\\+[1-9][0-9]{0,2} [0-9]{3} [0-9]{3} [0-9]{4}",
            "\\([2-9][0-9]{2}\\) [0-9]{3}-[0-9]{4}",
            "[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}",
        ]
    }

    /// Text around the personal data: words, punctuation, small numbers.
    fn filler() -> impl Strategy<Value = String> {
        "[a-zA-Z ,;:=/<>\\[\\]]{0,20}"
    }

    proptest! {
        #[test]
        fn no_email_survives(before in filler(), addr in email(), after in filler()) {
            let text = format!("{before} {addr} {after}");
            let out = redact_pii(&text);
            prop_assert!(!out.contains(&addr), "{out}");
            prop_assert!(!out.contains('@'), "{out}");
            prop_assert!(out.contains(EMAIL_PLACEHOLDER));
        }

        #[test]
        fn no_phone_number_survives(before in filler(), number in phone(), after in filler()) {
            let text = format!("{before} {number} {after}");
            let out = redact_pii(&text);
            prop_assert!(!out.contains(&number), "{out}");
            prop_assert!(out.contains(PHONE_PLACEHOLDER), "{out}");
        }

        #[test]
        fn text_without_at_signs_or_digits_is_borrowed_unchanged(text in "[^@0-9]{0,80}") {
            let out = redact_pii(&text);
            prop_assert!(matches!(out, Cow::Borrowed(_)));
            prop_assert_eq!(out, text.as_str());
        }

        #[test]
        fn redacting_twice_changes_nothing_more(text in "[a-z0-9@.+()% -]{0,60}") {
            let once = redact_pii(&text).into_owned();
            let twice = redact_pii(&once);
            prop_assert_eq!(twice.as_ref(), once.as_str());
        }
    }
}
