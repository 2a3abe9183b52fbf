//! PII redaction before a prompt leaves the process: email addresses, phone
//! numbers and the names the caller lists become placeholders (`[EMAIL_1]`,
//! `[PHONE_1]`, `[NAME_1]`), the same value always the same placeholder, and
//! the answer gets the real values back. Names cannot be found by pattern,
//! so the caller passes the ones it knows (the lead's, the sender's).

use regex::Regex;
use std::sync::LazyLock;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
        .expect("the email pattern is valid")
});

/// A leading `+` or digit, then digits with the usual separators; filtered
/// below to 7–15 digits and to things that are not ISO dates.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+|\b)\d[\d\s().\-/]{5,}\d\b").expect("the phone pattern is valid")
});

static ISO_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}$").expect("the date pattern is valid"));

/// What was replaced, to restore the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redaction {
    /// (placeholder, original), in order of first appearance.
    pub entries: Vec<(String, String)>,
}

impl Redaction {
    fn placeholder_for(&mut self, kind: &str, original: &str) -> String {
        if let Some((placeholder, _)) = self
            .entries
            .iter()
            .find(|(p, o)| o.eq_ignore_ascii_case(original) && p.starts_with(&format!("[{kind}_")))
        {
            return placeholder.clone();
        }
        let n = self
            .entries
            .iter()
            .filter(|(p, _)| p.starts_with(&format!("[{kind}_")))
            .count()
            + 1;
        let placeholder = format!("[{kind}_{n}]");
        self.entries
            .push((placeholder.clone(), original.to_owned()));
        placeholder
    }

    /// Puts the original values back.
    pub fn restore(&self, text: &str) -> String {
        self.entries
            .iter()
            .fold(text.to_owned(), |acc, (placeholder, original)| {
                acc.replace(placeholder, original)
            })
    }

    /// Restores every string inside a JSON value.
    pub fn restore_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.restore(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.restore_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.restore_json(v)),
            _ => {}
        }
    }
}

/// Redacts texts, sharing one [`Redaction`] across the messages of a prompt.
#[derive(Debug, Default)]
pub struct Redactor {
    names: Vec<String>,
    redaction: Redaction,
}

impl Redactor {
    /// `names`: personal names to hide (full names and their parts).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<String> = names
            .into_iter()
            .map(|n| n.as_ref().trim().to_owned())
            .filter(|n| n.chars().count() >= 2)
            .collect();
        // Longest first, so "Lee Doe" wins over "Lee".
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names.dedup();
        Self {
            names,
            redaction: Redaction::default(),
        }
    }

    pub fn redact(&mut self, text: &str) -> String {
        // Emails first: they contain names and digits.
        let text = replace_all(&EMAIL, text, |m| {
            Some(self.redaction.placeholder_for("EMAIL", m))
        });
        let text = replace_all(&PHONE, &text, |m| {
            let digits = m.chars().filter(char::is_ascii_digit).count();
            let looks_like_phone = (7..=15).contains(&digits) && !ISO_DATE.is_match(m.trim());
            looks_like_phone.then(|| self.redaction.placeholder_for("PHONE", m.trim()))
        });
        let mut text = text;
        for name in self.names.clone() {
            let pattern = format!(r"(?i)\b{}\b", regex::escape(&name));
            let Ok(re) = Regex::new(&pattern) else {
                continue;
            };
            text = replace_all(&re, &text, |m| {
                Some(self.redaction.placeholder_for("NAME", m))
            });
        }
        text
    }

    pub fn into_redaction(self) -> Redaction {
        self.redaction
    }
}

fn replace_all(re: &Regex, text: &str, mut with: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in re.find_iter(text) {
        if let Some(replacement) = with(m.as_str()) {
            out.push_str(&text[last..m.start()]);
            out.push_str(&replacement);
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_phones_and_names_become_placeholders_and_come_back() {
        let mut r = Redactor::new(["Lee Doe", "Lee", "Doe"]);
        let text = "Write to Lee Doe (lee.doe@acme.com, +1 415-555-0123). Lee asked on 2025-03-14 about 3 seats.";
        let redacted = r.redact(text);
        assert_eq!(
            redacted,
            "Write to [NAME_1] ([EMAIL_1], [PHONE_1]). [NAME_2] asked on 2025-03-14 about 3 seats."
        );
        let redaction = r.into_redaction();
        assert_eq!(redaction.restore(&redacted), text);
    }

    #[test]
    fn the_same_value_keeps_its_placeholder_across_messages() {
        let mut r = Redactor::new(Vec::<String>::new());
        let a = r.redact("mail lee@acme.com");
        let b = r.redact("again: LEE@acme.com and ops@acme.com");
        assert_eq!(a, "mail [EMAIL_1]");
        assert_eq!(b, "again: [EMAIL_1] and [EMAIL_2]");
    }

    #[test]
    fn names_match_whole_words_only() {
        let mut r = Redactor::new(["Ann"]);
        assert_eq!(r.redact("Ann announced it"), "[NAME_1] announced it");
    }

    #[test]
    fn restoring_json_walks_every_string() {
        let mut r = Redactor::new(["Lee"]);
        r.redact("Lee");
        let redaction = r.into_redaction();
        let mut v = serde_json::json!({"subject": "Hi [NAME_1]", "lines": ["[NAME_1]!", 3]});
        redaction.restore_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"subject": "Hi Lee", "lines": ["Lee!", 3]})
        );
    }

    proptest! {
        #[test]
        fn no_generated_email_or_phone_survives_redaction(
            user in "[a-z]{1,8}(\\.[a-z]{1,8})?",
            host in "[a-z]{2,8}",
            tld in "(com|io|de|co\\.uk)",
            area in 200u32..999,
            line in 1_000_000u32..9_999_999,
            filler in "[a-zA-Z ,.]{0,40}",
        ) {
            let email = format!("{user}@{host}.{tld}");
            let phone = format!("+1 {area} {line}");
            let text = format!("{filler} {email} {filler} {phone} {filler}");
            let mut r = Redactor::new(Vec::<String>::new());
            let redacted = r.redact(&text);
            prop_assert!(!redacted.contains(&email), "{}", redacted);
            prop_assert!(!redacted.contains(&line.to_string()), "{}", redacted);
            prop_assert_eq!(r.into_redaction().restore(&redacted), text);
        }

        #[test]
        fn redaction_never_panics(text in "\\PC{0,200}", name in "\\PC{0,12}") {
            let mut r = Redactor::new([name]);
            let _ = r.redact(&text);
        }
    }
}
