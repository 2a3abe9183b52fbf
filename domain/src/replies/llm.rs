//! Validation of an LLM's reply classification.
//!
//! The model is asked for one flat JSON object (fences such as ```` ```json ```` are
//! tolerated, other prose is not):
//!
//! ```json
//! {"category": "out_of_office", "confidence": 0.92, "return_date": "2026-12-14",
//!  "referral_name": null, "referral_email": null, "objection": null, "reason": "auto-reply"}
//! ```
//!
//! Rules: `category` is one of the six names; `confidence` is a number in 0..=1 and at
//! least [`MIN_LLM_CONFIDENCE`] (chosen: below it the deterministic classifier is as good);
//! `return_date` only on `out_of_office`, `YYYY-MM-DD`, not before the reply and at most
//! 366 days after it (chosen: a longer absence is a different problem); `referral_name`
//! and `referral_email` only on `referral`, the email syntactically valid; `objection`
//! (`budget`, `timing`, `competitor`, `other`; absent means `other`) only on `objection`.
//! Unknown extra fields are ignored.

use chrono::{Duration, NaiveDate};
use serde_json::{Map, Value};

use super::{Classification, Classifier, ObjectionKind, ReplyCategory};
use crate::channel::is_email_address;
use crate::error::DomainError;

/// The lowest confidence accepted from the model.
pub const MIN_LLM_CONFIDENCE: f64 = 0.5;
/// How far ahead a return date may lie.
pub const MAX_RETURN_DAYS: i64 = 366;

const CATEGORIES: &str =
    "interested, objection, not_interested, out_of_office, unsubscribe, referral";

fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

fn json_error(detail: impl Into<String>) -> DomainError {
    DomainError::LlmJson {
        detail: detail.into(),
    }
}

/// A string field: `Ok(None)` when absent or null, an error when not a string.
fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, DomainError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(json_error(format!(
            "field \"{field}\" must be a string or null, got {other}"
        ))),
    }
}

fn forbid(
    obj: &Map<String, Value>,
    fields: &[&'static str],
    category: &'static str,
) -> Result<(), DomainError> {
    for field in fields {
        if optional_str(obj, field)?.is_some() {
            return Err(DomainError::FieldNotAllowed { field, category });
        }
    }
    Ok(())
}

fn confidence(obj: &Map<String, Value>) -> Result<f64, DomainError> {
    let got = obj
        .get("confidence")
        .and_then(Value::as_f64)
        .ok_or_else(|| json_error("field \"confidence\" must be a number"))?;
    if !(0.0..=1.0).contains(&got) {
        return Err(DomainError::ConfidenceOutOfRange { got });
    }
    if got < MIN_LLM_CONFIDENCE {
        return Err(DomainError::LowConfidence {
            got,
            min: MIN_LLM_CONFIDENCE,
        });
    }
    Ok(got)
}

fn parse_return_date(raw: &str, received: NaiveDate) -> Result<NaiveDate, DomainError> {
    let bad = |why| DomainError::BadReturnDate {
        got: raw.into(),
        why,
    };
    let date =
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad("not a YYYY-MM-DD date"))?;
    if date < received {
        return Err(bad("before the reply was received"));
    }
    if received
        .checked_add_signed(Duration::days(MAX_RETURN_DAYS))
        .is_none_or(|last| date > last)
    {
        return Err(bad("more than 366 days after the reply"));
    }
    Ok(date)
}

fn objection_kind(raw: Option<&str>) -> Result<ObjectionKind, DomainError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None | Some("other") => Ok(ObjectionKind::Other),
        Some("budget") => Ok(ObjectionKind::Budget),
        Some("timing") => Ok(ObjectionKind::Timing),
        Some("competitor") => Ok(ObjectionKind::Competitor),
        Some(other) => Err(json_error(format!(
            "unknown objection \"{other}\" (known: budget, timing, competitor, other)"
        ))),
    }
}

fn category(obj: &Map<String, Value>, received: NaiveDate) -> Result<ReplyCategory, DomainError> {
    let name = optional_str(obj, "category")?
        .ok_or_else(|| json_error("field \"category\" is missing"))?;
    let name = name.to_ascii_lowercase();
    let (category, allowed): (ReplyCategory, &[&str]) = match name.as_str() {
        "interested" => (ReplyCategory::Interested, &[]),
        "not_interested" => (ReplyCategory::NotInterested, &[]),
        "unsubscribe" => (ReplyCategory::Unsubscribe, &[]),
        "objection" => (
            ReplyCategory::Objection {
                kind: objection_kind(optional_str(obj, "objection")?)?,
            },
            &["objection"],
        ),
        "out_of_office" => {
            let return_date = optional_str(obj, "return_date")?
                .map(|d| parse_return_date(d, received))
                .transpose()?;
            (ReplyCategory::OutOfOffice { return_date }, &["return_date"])
        }
        "referral" => {
            let email = optional_str(obj, "referral_email")?;
            if let Some(e) = email.filter(|e| !is_email_address(e)) {
                return Err(DomainError::BadReferralEmail { got: e.into() });
            }
            let name = optional_str(obj, "referral_name")?.map(str::to_owned);
            (
                ReplyCategory::Referral {
                    name,
                    email: email.map(str::to_lowercase),
                },
                &["referral_name", "referral_email"],
            )
        }
        _ => {
            return Err(DomainError::UnknownCategory {
                got: name,
                known: CATEGORIES,
            });
        }
    };
    let extras: Vec<&'static str> = [
        "return_date",
        "referral_name",
        "referral_email",
        "objection",
    ]
    .into_iter()
    .filter(|f| !allowed.contains(f))
    .collect();
    forbid(obj, &extras, category.name())?;
    Ok(category)
}

/// Parses and validates the model's answer for a reply received on `received`.
pub fn validate_llm_classification(
    answer: &str,
    received: NaiveDate,
) -> Result<Classification, DomainError> {
    let value: Value =
        serde_json::from_str(strip_fences(answer)).map_err(|e| json_error(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| json_error("expected a JSON object"))?;
    let category = category(obj, received)?;
    let confidence = confidence(obj)?;
    let evidence = optional_str(obj, "reason")?.unwrap_or("").to_owned();
    Ok(Classification {
        category,
        confidence,
        classifier: Classifier::Llm,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn received() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn check(json: &str) -> Result<Classification, DomainError> {
        validate_llm_classification(json, received())
    }

    #[test]
    fn a_well_formed_out_of_office_answer_is_accepted() {
        let c = check(r#"```json
{"category": "out_of_office", "confidence": 0.92, "return_date": "2026-12-14", "referral_name": null, "reason": "auto-reply"}
```"#)
        .unwrap();
        assert_eq!(
            c.category,
            ReplyCategory::OutOfOffice {
                return_date: NaiveDate::from_ymd_opt(2026, 12, 14)
            }
        );
        assert_eq!(
            (c.confidence, c.classifier, c.evidence.as_str()),
            (0.92, Classifier::Llm, "auto-reply")
        );
    }

    #[test]
    fn referrals_and_objections_carry_their_details() {
        let c = check(r#"{"category": "referral", "confidence": 0.8, "referral_name": "Jane Doe", "referral_email": "Jane@Acme.io"}"#).unwrap();
        assert_eq!(
            c.category,
            ReplyCategory::Referral {
                name: Some("Jane Doe".into()),
                email: Some("jane@acme.io".into())
            }
        );
        let c = check(r#"{"category": "objection", "confidence": 0.7, "objection": "budget"}"#)
            .unwrap();
        assert_eq!(
            c.category,
            ReplyCategory::Objection {
                kind: ObjectionKind::Budget
            }
        );
        let c = check(r#"{"category": "objection", "confidence": 0.7}"#).unwrap();
        assert_eq!(
            c.category,
            ReplyCategory::Objection {
                kind: ObjectionKind::Other
            }
        );
    }

    #[test]
    fn confidence_is_checked_at_its_edges() {
        assert!(check(r#"{"category": "interested", "confidence": 0.5}"#).is_ok());
        assert!(check(r#"{"category": "interested", "confidence": 1.0}"#).is_ok());
        assert_eq!(
            check(r#"{"category": "interested", "confidence": 0.49}"#),
            Err(DomainError::LowConfidence {
                got: 0.49,
                min: 0.5
            })
        );
        assert_eq!(
            check(r#"{"category": "interested", "confidence": 1.01}"#),
            Err(DomainError::ConfidenceOutOfRange { got: 1.01 })
        );
        assert!(matches!(
            check(r#"{"category": "interested", "confidence": "high"}"#),
            Err(DomainError::LlmJson { .. })
        ));
    }

    #[test]
    fn return_dates_must_be_real_and_ahead() {
        assert!(
            check(
                r#"{"category": "out_of_office", "confidence": 0.9, "return_date": "2026-11-27"}"#
            )
            .is_ok()
        );
        assert!(
            check(
                r#"{"category": "out_of_office", "confidence": 0.9, "return_date": "2027-11-28"}"#
            )
            .is_ok()
        );
        for bad in ["2026-11-26", "2027-11-29", "14 December", "2026-02-30"] {
            let json = format!(
                r#"{{"category": "out_of_office", "confidence": 0.9, "return_date": "{bad}"}}"#
            );
            assert!(
                matches!(check(&json), Err(DomainError::BadReturnDate { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_rejected_with_a_precise_error() {
        assert_eq!(
            check(r#"{"category": "maybe", "confidence": 0.9}"#)
                .unwrap_err()
                .to_string(),
            "llm classification: unknown category \"maybe\" (known: interested, objection, not_interested, out_of_office, unsubscribe, referral)"
        );
        assert_eq!(
            check(r#"{"category": "interested", "confidence": 0.9, "return_date": "2026-12-01"}"#),
            Err(DomainError::FieldNotAllowed {
                field: "return_date",
                category: "interested"
            })
        );
        assert_eq!(
            check(
                r#"{"category": "referral", "confidence": 0.9, "referral_email": "jane at acme"}"#
            ),
            Err(DomainError::BadReferralEmail {
                got: "jane at acme".into()
            })
        );
        assert!(matches!(
            check("Sure! Here is the JSON: {}"),
            Err(DomainError::LlmJson { .. })
        ));
        assert!(matches!(check("[1, 2]"), Err(DomainError::LlmJson { .. })));
        assert!(matches!(
            check(r#"{"confidence": 0.9}"#),
            Err(DomainError::LlmJson { .. })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".*") {
            let _ = check(&text);
        }

        #[test]
        fn accepted_answers_always_satisfy_the_rules(
            category in "(interested|objection|not_interested|out_of_office|unsubscribe|referral|other)",
            confidence in -0.5f64..1.5,
            day in -5i64..400,
        ) {
            let date = (received() + Duration::days(day)).format("%Y-%m-%d");
            let json = format!(r#"{{"category": "{category}", "confidence": {confidence}, "return_date": "{date}"}}"#);
            if let Ok(c) = check(&json) {
                prop_assert!((MIN_LLM_CONFIDENCE..=1.0).contains(&c.confidence));
                prop_assert_eq!(c.category.name(), "out_of_office");
                prop_assert!((0..=MAX_RETURN_DAYS).contains(&day));
            }
        }
    }
}
