//! What every outgoing email must carry (DOMAIN.md, "Compliance that the engine must
//! enforce"):
//! - CAN-SPAM: a physical postal address and a working opt-out;
//! - RFC 8058 one-click unsubscribe: `List-Unsubscribe: <https://…>` (optionally also a
//!   `<mailto:…>`) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`;
//! - GDPR Art. 14: the first message to a lead in the EU/EEA/UK names where the data
//!   came from, and says the lead may object (Art. 21). A lead whose country is unknown
//!   gets the notice whenever sources are known (chosen: it costs one paragraph).

use serde::{Deserialize, Serialize};

use super::Draft;
use crate::channel::is_gdpr_country;
use crate::error::DomainError;

/// The sender's fixed compliance data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceSettings {
    pub sender_company: String,
    pub postal_address: String,
    /// The per-recipient one-click endpoint (must be https).
    pub unsubscribe_url: String,
    /// Optional `mailto:` fallback for clients without RFC 8058.
    pub unsubscribe_mailto: Option<String>,
}

/// What the compliance step needs to know about the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Recipient {
    /// ISO 3166-1 alpha-2, when known.
    pub country: Option<String>,
    /// Whether this is the first message Rex sends to this lead.
    pub first_message: bool,
    /// Where the lead's data came from (`scraper::data_sources`).
    pub data_sources: Vec<String>,
}

/// A header as data; the adapter writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// An email ready for the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub subject: String,
    pub body: String,
    pub headers: Vec<Header>,
    /// Whether the GDPR Art. 14 notice was added.
    pub art14_notice: bool,
}

/// The body RFC 8058 clients POST, and the value of `List-Unsubscribe-Post`.
pub const ONE_CLICK_BODY: &str = "List-Unsubscribe=One-Click";

fn needs_art14_notice(recipient: &Recipient) -> Result<bool, DomainError> {
    if !recipient.first_message {
        return Ok(false);
    }
    match recipient.country.as_deref() {
        Some(country) if is_gdpr_country(country) => {
            if recipient.data_sources.is_empty() {
                return Err(DomainError::MissingDataSource {
                    country: country.trim().to_uppercase(),
                });
            }
            Ok(true)
        }
        Some(_) => Ok(false),
        None => Ok(!recipient.data_sources.is_empty()),
    }
}

/// The Art. 14 paragraph naming the sources.
pub fn art14_notice(sender_company: &str, sources: &[String]) -> String {
    format!(
        "Why you are hearing from us: {sender_company} found your business contact details via {}. \
We use them only to offer services relevant to your role. You can object at any time: \
use the unsubscribe link below and we will not contact you again.",
        sources.join(", ")
    )
}

/// The headers RFC 8058 asks for.
pub fn unsubscribe_headers(settings: &ComplianceSettings) -> Vec<Header> {
    let mut targets = format!("<{}>", settings.unsubscribe_url.trim());
    if let Some(mailto) = settings
        .unsubscribe_mailto
        .as_deref()
        .filter(|m| !m.trim().is_empty())
    {
        let mailto = mailto.trim();
        let mailto = if mailto.starts_with("mailto:") {
            mailto.to_owned()
        } else {
            format!("mailto:{mailto}")
        };
        targets.push_str(&format!(", <{mailto}>"));
    }
    vec![
        Header {
            name: "List-Unsubscribe".into(),
            value: targets,
        },
        Header {
            name: "List-Unsubscribe-Post".into(),
            value: ONE_CLICK_BODY.into(),
        },
    ]
}

/// Adds the notice, footer and headers, or says which compliance input is missing.
pub fn finalize_email(
    draft: &Draft,
    settings: &ComplianceSettings,
    recipient: &Recipient,
) -> Result<OutgoingEmail, DomainError> {
    let address = settings.postal_address.trim();
    if address.is_empty() {
        return Err(DomainError::MissingPostalAddress);
    }
    let url = settings.unsubscribe_url.trim();
    if !url.starts_with("https://")
        || url.len() <= "https://".len()
        || url.contains(['<', '>', ' '])
    {
        return Err(DomainError::UnsubscribeUrlNotHttps { url: url.into() });
    }
    let notice = needs_art14_notice(recipient)?;
    let mut body = draft.body.trim_end().to_owned();
    if notice {
        body.push_str("\n\n");
        body.push_str(&art14_notice(
            &settings.sender_company,
            &recipient.data_sources,
        ));
    }
    body.push_str(&format!(
        "\n\n--\n{}, {address}\nUnsubscribe: {url}\n",
        settings.sender_company
    ));
    Ok(OutgoingEmail {
        subject: draft.subject.trim().to_owned(),
        body,
        headers: unsubscribe_headers(settings),
        art14_notice: notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ComplianceSettings {
        ComplianceSettings {
            sender_company: "Rex Labs".into(),
            postal_address: "1 Main St, Springfield, US".into(),
            unsubscribe_url: "https://rex.example/u/abc".into(),
            unsubscribe_mailto: Some("unsubscribe@rex.example".into()),
        }
    }

    fn draft() -> Draft {
        Draft {
            subject: "Hello".into(),
            body: "Hi Ana".into(),
        }
    }

    fn recipient(country: Option<&str>, first: bool, sources: &[&str]) -> Recipient {
        Recipient {
            country: country.map(Into::into),
            first_message: first,
            data_sources: sources.iter().map(|s| (*s).into()).collect(),
        }
    }

    #[test]
    fn every_email_gets_the_address_and_one_click_headers() {
        let email =
            finalize_email(&draft(), &settings(), &recipient(Some("US"), true, &[])).unwrap();
        assert!(email.body.contains("Rex Labs, 1 Main St, Springfield, US"));
        assert!(
            email
                .body
                .contains("Unsubscribe: https://rex.example/u/abc")
        );
        assert_eq!(
            email.headers,
            [
                Header {
                    name: "List-Unsubscribe".into(),
                    value: "<https://rex.example/u/abc>, <mailto:unsubscribe@rex.example>".into()
                },
                Header {
                    name: "List-Unsubscribe-Post".into(),
                    value: "List-Unsubscribe=One-Click".into()
                },
            ]
        );
        assert!(!email.art14_notice);
    }

    #[test]
    fn first_message_to_an_eu_lead_names_the_source() {
        let email = finalize_email(
            &draft(),
            &settings(),
            &recipient(Some("fr"), true, &["apollo.io"]),
        )
        .unwrap();
        assert!(email.art14_notice);
        assert!(email.body.contains("via apollo.io"));
        let follow_up = finalize_email(
            &draft(),
            &settings(),
            &recipient(Some("FR"), false, &["apollo.io"]),
        )
        .unwrap();
        assert!(!follow_up.art14_notice);
    }

    #[test]
    fn uk_and_eea_leads_get_the_notice_too() {
        for country in ["GB", "NO"] {
            let email = finalize_email(
                &draft(),
                &settings(),
                &recipient(Some(country), true, &["hunter.io"]),
            )
            .unwrap();
            assert!(email.art14_notice, "{country}");
        }
    }

    #[test]
    fn an_eu_first_message_without_sources_is_refused() {
        assert_eq!(
            finalize_email(&draft(), &settings(), &recipient(Some("de"), true, &[])),
            Err(DomainError::MissingDataSource {
                country: "DE".into()
            })
        );
    }

    #[test]
    fn missing_address_or_plain_http_unsubscribe_is_refused() {
        let mut s = settings();
        s.postal_address = " ".into();
        assert_eq!(
            finalize_email(&draft(), &s, &Recipient::default()),
            Err(DomainError::MissingPostalAddress)
        );
        let mut s = settings();
        s.unsubscribe_url = "http://rex.example/u".into();
        assert!(matches!(
            finalize_email(&draft(), &s, &Recipient::default()),
            Err(DomainError::UnsubscribeUrlNotHttps { .. })
        ));
    }
}
