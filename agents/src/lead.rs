//! Leads travel as JSON records that grow along the campaign (docs/agents.md). This
//! module reads the fields the domain functions need out of one record, leniently
//! (absent means unknown) but strictly about shape (a present field of the wrong type
//! is a permanent error naming it). Records are never re-serialized from these views:
//! agents add fields to the original object, so nothing is ever lost.

use chrono::{DateTime, Utc};
use rex_domain::ConsentFlags;
use rex_domain::channel::parse_tz;
use rex_domain::icp::IcpLead;
use rex_domain::personalizer::MessageContext;
use rex_domain::reviver::{ContactData, DeadLead, DealStage, Engagement, LostReason};
use rex_domain::scraper::EmailVerification;
use rex_workers::StepError;
use serde_json::Value;

use crate::input::{Obj, bad, get, parse, text};

/// ICP fit assumed for a lead `icp.rescore` has not scored yet (docs/agents.md).
pub(crate) const DEFAULT_FIT: u8 = 50;

/// How the lead can be reached.
pub(crate) fn contact(lead: &Obj, path: &str) -> Result<ContactData, StepError> {
    Ok(ContactData {
        email: text(lead, path, "email")?,
        email_status: parse(lead, path, "email_status")?.unwrap_or_default(),
        phone: text(lead, path, "phone")?,
        linkedin_url: text(lead, path, "linkedin_url")?,
        country: text(lead, path, "country")?,
        consent: parse::<ConsentFlags>(lead, path, "consent")?.unwrap_or_default(),
    })
}

/// The ICP fit written by `icp.rescore`: a number, or an object with `total`.
pub(crate) fn fit(lead: &Obj, path: &str) -> Result<u8, StepError> {
    let value = get(lead, "fit").map(|v| v.get("total").unwrap_or(v));
    match value {
        None => Ok(DEFAULT_FIT),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= 100)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| bad(&format!("{path}.fit"), format!("expected 0..=100, got {v}"))),
    }
}

/// The lead as the reviver scores it. A missing stage counts as `lead` and a missing
/// lost reason as `unknown` (the least that the CRM can have meant).
pub(crate) fn dead_lead(id: &str, lead: &Obj, path: &str) -> Result<DeadLead, StepError> {
    let suppressed = match get(lead, "suppression") {
        None | Some(Value::Bool(false)) => false,
        Some(_) => true,
    };
    Ok(DeadLead {
        id: id.to_owned(),
        last_touch_at: parse::<DateTime<Utc>>(lead, path, "history.last_contact_at")?,
        engagement: parse::<Engagement>(lead, path, "history.engagement")?.unwrap_or_default(),
        stage: parse(lead, path, "history.stage")?.unwrap_or(DealStage::Lead),
        lost_reason: parse(lead, path, "history.lost_reason")?.unwrap_or(LostReason::Unknown),
        fit: fit(lead, path)?,
        contact: contact(lead, path)?,
        suppressed,
    })
}

/// The lead as the ICP score sees it.
pub(crate) fn icp_lead(
    lead: &Obj,
    path: &str,
    engagement_points: u8,
) -> Result<IcpLead, StepError> {
    Ok(IcpLead {
        employees: parse::<u32>(lead, path, "company.employees")?,
        industry: text(lead, path, "company.industry")?,
        title: text(lead, path, "title")?,
        engagement_points,
    })
}

/// What the copy may say about the lead; the sender's part comes from the campaign.
pub(crate) fn message_context(
    lead: &Obj,
    path: &str,
    sender: &MessageContext,
) -> Result<MessageContext, StepError> {
    Ok(MessageContext {
        first_name: text(lead, path, "first_name")?,
        company: text(lead, path, "company.name")?,
        industry: text(lead, path, "company.industry")?,
        pain_point: text(lead, path, "history.pain_point")?,
        ..sender.clone()
    })
}

/// Whether the lead's time zone is a known IANA name (`timezone_valid` from import wins
/// when present).
pub(crate) fn timezone_known(lead: &Obj) -> bool {
    match lead.get("timezone_valid").and_then(Value::as_bool) {
        Some(known) => known,
        None => get(lead, "timezone")
            .and_then(Value::as_str)
            .is_some_and(|z| parse_tz(z).is_ok()),
    }
}

/// The email's verification status (absent: never verified).
pub(crate) fn email_status(lead: &Obj, path: &str) -> Result<EmailVerification, StepError> {
    Ok(parse(lead, path, "email_status")?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bare_record_reads_as_an_unknown_lead_with_default_fit() {
        let v = json!({"id": "l1"});
        let lead = dead_lead("l1", v.as_object().unwrap(), "input.leads[0]").unwrap();
        assert_eq!(lead.fit, DEFAULT_FIT);
        assert_eq!(lead.stage, DealStage::Lead);
        assert!(!lead.suppressed);
        assert!(lead.contact.email.is_none());
    }

    #[test]
    fn fit_reads_a_number_or_an_object_and_refuses_nonsense() {
        let at = |v: Value| fit(v.as_object().unwrap(), "input.leads[0]");
        assert_eq!(at(json!({"fit": 80})).unwrap(), 80);
        assert_eq!(at(json!({"fit": {"total": 12}})).unwrap(), 12);
        let err = at(json!({"fit": "high"})).unwrap_err();
        assert!(
            err.message.starts_with("input.leads[0].fit"),
            "{}",
            err.message
        );
        assert!(at(json!({"fit": 101})).is_err());
    }

    #[test]
    fn a_wrong_consent_value_names_the_field() {
        let v = json!({"consent": {"email": "maybe"}});
        let err = contact(v.as_object().unwrap(), "input.leads[4]").unwrap_err();
        assert!(
            err.message.starts_with("input.leads[4].consent"),
            "{}",
            err.message
        );
    }
}
