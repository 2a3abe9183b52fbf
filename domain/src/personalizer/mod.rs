//! Copy: framework templates, validation of LLM drafts, A/B assignment, compliance.
//!
//! - [`render`] fills one of four framework templates (PAS, AIDA, BAF, FAB) from a
//!   [`MessageContext`]; a missing optional field falls back to a neutral phrase, so a
//!   template render always passes validation.
//! - [`validate::validate_draft`] checks an LLM draft; [`choose_draft`] uses the draft
//!   when it passes and the template otherwise (DOMAIN.md: "validate any JSON the model
//!   returns and fall back to templates when it fails").
//! - [`ab::assign_variant`] is a stable hash of experiment and lead id.
//! - [`compliance::finalize_email`] adds the postal address, the one-click unsubscribe
//!   headers and, on a first message to an EU/EEA/UK lead, the GDPR Art. 14 notice.

pub mod ab;
pub mod compliance;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use ab::assign_variant;
pub use compliance::{ComplianceSettings, Header, OutgoingEmail, Recipient, finalize_email};
pub use validate::{DraftProblem, SmsEncoding, sms_segments, validate_draft};

/// A copywriting framework.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framework {
    /// Problem, Agitate, Solution.
    Pas,
    /// Attention, Interest, Desire, Action.
    Aida,
    /// Before, After, Bridge.
    Baf,
    /// Features, Advantages, Benefits.
    Fab,
}

/// An email's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub subject: String,
    pub body: String,
}

/// The fields a template may use. Optional fields fall back to neutral phrases.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageContext {
    pub first_name: Option<String>,
    pub company: Option<String>,
    pub industry: Option<String>,
    /// The problem the lead had when the deal went cold, e.g. "manual lead routing".
    pub pain_point: Option<String>,
    /// A customer result, e.g. "Northwind cut response times by 40%".
    pub proof_point: Option<String>,
    pub sender_name: String,
    pub sender_company: String,
    /// What the product does for the lead, e.g. "route every inbound lead in seconds".
    pub value_prop: String,
}

impl MessageContext {
    /// The value of a placeholder, or `None` for a name no template should use.
    fn field(&self, name: &str) -> Option<String> {
        let or = |v: &Option<String>, default: &str| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .unwrap_or(default)
                .to_owned()
        };
        Some(match name {
            "first_name" => or(&self.first_name, "there"),
            "company" => or(&self.company, "your team"),
            "industry" => or(&self.industry, "your market"),
            "pain_point" => or(&self.pain_point, "deals that stall after the first call"),
            "proof_point" => or(&self.proof_point, "teams like yours now close faster"),
            "sender_name" => self.sender_name.trim().to_owned(),
            "sender_company" => self.sender_company.trim().to_owned(),
            "value_prop" => self.value_prop.trim().to_owned(),
            _ => return None,
        })
    }
}

/// The subject and body templates of a framework. Placeholders are `{{name}}`.
pub fn template(framework: Framework) -> (&'static str, &'static str) {
    match framework {
        Framework::Pas => (
            "{{company}} and {{pain_point}}",
            "Hi {{first_name}},\n\nWhen we last spoke, {{company}} was dealing with {{pain_point}}. \
In {{industry}} that rarely fixes itself: every quarter it stays, the pipeline pays for it again.\n\n\
{{sender_company}} helps teams {{value_prop}}. Would a 20-minute call next week be useful to see \
whether it fits where {{company}} is today?\n\n{{sender_name}}",
        ),
        Framework::Aida => (
            "An idea for {{company}}",
            "Hi {{first_name}},\n\nA quick one: {{proof_point}}.\n\nThe same approach could help \
{{company}} {{value_prop}}, without a long rollout or a new tool for your team to learn.\n\n\
If that is worth a look, reply with a good time and I will send a short agenda.\n\n{{sender_name}}",
        ),
        Framework::Baf => (
            "Before and after for {{company}}",
            "Hi {{first_name}},\n\nBefore: {{pain_point}}, and hours lost every week working around \
it.\nAfter: a team that can {{value_prop}}, which is where {{proof_point}}.\n\nThe bridge is \
{{sender_company}}. Open to a short call to see if {{company}} could get the same result?\n\n\
{{sender_name}}",
        ),
        Framework::Fab => (
            "How {{sender_company}} helps {{company}}",
            "Hi {{first_name}},\n\n{{sender_company}} lets teams {{value_prop}}. For {{company}} that \
means less time lost to {{pain_point}} and more time with buyers.\n\nThe benefit shows up fast: \
{{proof_point}}. Would it help if I shared how that worked in {{industry}}?\n\n{{sender_name}}",
        ),
    }
}

/// Replaces every known `{{name}}`; unknown names stay as they are so validation can
/// catch them.
pub fn fill(text: &str, ctx: &MessageContext) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match ctx.field(name) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders a framework's template for a lead.
pub fn render(framework: Framework, ctx: &MessageContext) -> Draft {
    let (subject, body) = template(framework);
    Draft {
        subject: fill(subject, ctx),
        body: fill(body, ctx),
    }
}

/// Where the chosen copy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftSource {
    Llm,
    Template,
}

/// The copy to send, its source, and why an LLM draft was rejected (if it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenDraft {
    pub draft: Draft,
    pub source: DraftSource,
    pub rejected_because: Vec<DraftProblem>,
}

/// The LLM's draft when it passes validation, else the framework template.
pub fn choose_draft(llm: Option<Draft>, framework: Framework, ctx: &MessageContext) -> ChosenDraft {
    let problems = match llm {
        Some(draft) => match validate_draft(&draft, ctx) {
            Ok(()) => {
                return ChosenDraft {
                    draft,
                    source: DraftSource::Llm,
                    rejected_because: vec![],
                };
            }
            Err(problems) => problems,
        },
        None => vec![],
    };
    ChosenDraft {
        draft: render(framework, ctx),
        source: DraftSource::Template,
        rejected_because: problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ctx() -> MessageContext {
        MessageContext {
            first_name: Some("Ana".into()),
            company: Some("Acme".into()),
            industry: Some("logistics".into()),
            pain_point: Some("manual lead routing".into()),
            proof_point: Some("Northwind cut response times by 40%".into()),
            sender_name: "Sam".into(),
            sender_company: "Rex Labs".into(),
            value_prop: "route every inbound lead in seconds".into(),
        }
    }

    const ALL: [Framework; 4] = [
        Framework::Pas,
        Framework::Aida,
        Framework::Baf,
        Framework::Fab,
    ];

    #[test]
    fn every_framework_renders_without_placeholders_and_passes_validation() {
        for f in ALL {
            let d = render(f, &ctx());
            assert!(
                !d.body.contains("{{") && !d.subject.contains("{{"),
                "{f:?}: {d:?}"
            );
            assert_eq!(validate_draft(&d, &ctx()), Ok(()), "{f:?}: {d:?}");
            assert!(d.body.starts_with("Hi Ana,"));
        }
    }

    #[test]
    fn templates_still_pass_with_only_the_required_fields() {
        let bare = MessageContext {
            sender_name: "Sam".into(),
            sender_company: "Rex Labs".into(),
            value_prop: "route every inbound lead in seconds".into(),
            ..MessageContext::default()
        };
        for f in ALL {
            let d = render(f, &bare);
            assert_eq!(validate_draft(&d, &bare), Ok(()), "{f:?}: {d:?}");
            assert!(d.body.starts_with("Hi there,"));
        }
    }

    #[test]
    fn unknown_and_unclosed_placeholders_survive_filling() {
        assert_eq!(
            fill("Hi {{ first_name }} {{nope}} {{open", &ctx()),
            "Hi Ana {{nope}} {{open"
        );
    }

    #[test]
    fn a_valid_llm_draft_is_used_and_a_broken_one_falls_back() {
        let good = render(Framework::Aida, &ctx());
        let chosen = choose_draft(Some(good.clone()), Framework::Pas, &ctx());
        assert_eq!((chosen.source, chosen.draft), (DraftSource::Llm, good));

        let broken = Draft {
            subject: "Hi {{first_name}}".into(),
            body: "short".into(),
        };
        let chosen = choose_draft(Some(broken), Framework::Pas, &ctx());
        assert_eq!(chosen.source, DraftSource::Template);
        assert_eq!(chosen.draft, render(Framework::Pas, &ctx()));
        assert!(!chosen.rejected_because.is_empty());

        let none = choose_draft(None, Framework::Fab, &ctx());
        assert_eq!(
            (none.source, none.rejected_because.len()),
            (DraftSource::Template, 0)
        );
    }
}
