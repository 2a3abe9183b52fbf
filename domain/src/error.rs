//! The one error type of `rex-domain`.
//!
//! Every function here is pure, so nothing is ever worth retrying as-is: an error means
//! the input (an LLM answer, a compliance setting, a time zone name) is wrong and the
//! caller must fall back (template, deterministic classifier) or fix its configuration.

use thiserror::Error;

/// Why a domain function refused its input.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The LLM's answer is not the JSON object we asked for.
    #[error("llm classification: invalid json: {detail}")]
    LlmJson { detail: String },
    /// The LLM named a category we do not know.
    #[error("llm classification: unknown category \"{got}\" (known: {known})")]
    UnknownCategory { got: String, known: &'static str },
    /// A confidence outside `0.0..=1.0`, or not a number.
    #[error("llm classification: confidence {got} is outside 0..=1")]
    ConfidenceOutOfRange { got: f64 },
    /// The LLM itself is unsure; the deterministic classifier decides instead.
    #[error("llm classification: confidence {got} is below the minimum {min}")]
    LowConfidence { got: f64, min: f64 },
    /// `return_date` is not a `YYYY-MM-DD` date, lies before the reply, or too far ahead.
    #[error("llm classification: bad return_date \"{got}\": {why}")]
    BadReturnDate { got: String, why: &'static str },
    /// A referral email that is not an address.
    #[error("llm classification: referral email \"{got}\" is not an email address")]
    BadReferralEmail { got: String },
    /// A field that only belongs to another category (e.g. a return date on `interested`).
    #[error("llm classification: field \"{field}\" is not allowed for category \"{category}\"")]
    FieldNotAllowed {
        field: &'static str,
        category: &'static str,
    },
    /// CAN-SPAM: every commercial email carries a valid physical postal address.
    #[error("compliance: the postal address is empty")]
    MissingPostalAddress,
    /// RFC 8058: the one-click unsubscribe target must be an https URL.
    #[error("compliance: unsubscribe url \"{url}\" is not an https url")]
    UnsubscribeUrlNotHttps { url: String },
    /// GDPR Art. 14: the first message to an EU/EEA/UK lead must name the data source.
    #[error(
        "compliance: first message to a lead in {country} needs the data source (GDPR Art. 14)"
    )]
    MissingDataSource { country: String },
    /// A time zone name that is not in the IANA database.
    #[error("unknown time zone \"{zone}\"")]
    UnknownTimeZone { zone: String },
    /// A/B assignment over an empty variant list.
    #[error("experiment \"{experiment}\" has no variants")]
    NoVariants { experiment: String },
}
