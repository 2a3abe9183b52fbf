//! Pure validation of imported companies and leads: what a CSV or CRM row must look
//! like before it becomes a row of `leads` or `companies`. No IO; the import
//! ([`crate::import_leads`]) runs it first and reports every problem with its row
//! number and field instead of failing the whole batch.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rex_domain::ConsentFlags;
use rex_domain::reviver::{DealStage, LostReason};
use serde::{Deserialize, Serialize};

use crate::codec::{address_hash, parse_enum};

/// The longest external id, name or other short text accepted (chosen: CRM ids and
/// names fit easily; anything longer is a broken export).
pub const MAX_TEXT: usize = 255;

/// ISO 3166-1 alpha-2 codes (from tzdata's `iso3166.tab`).
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH \
BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR \
GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR \
KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE \
RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL \
TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// The GDPR legal basis on which a lead may be contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentBasis {
    /// Art. 6(1)(a): the person opted in.
    Consent,
    /// Art. 6(1)(f): the usual basis of B2B outreach to a past prospect.
    LegitimateInterest,
    /// Art. 6(1)(b): an existing or past contract.
    Contract,
}

/// A company as imported (blank strings read as absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CompanyRow {
    pub external_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i64>,
    pub country: Option<String>,
    /// A JSON object (or null) of anything else the CRM knows.
    pub attributes: serde_json::Value,
}

/// A lead as imported (blank strings read as absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadRow {
    pub external_id: String,
    /// The CRM id of an imported company of the same tenant.
    pub company_external_id: Option<String>,
    pub email: Option<String>,
    /// E.164; spaces, dashes, dots and parentheses are dropped first.
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub source: String,
    /// A `rex_domain::reviver::DealStage` name (`lead`, `mql`, … `negotiation`).
    pub stage: String,
    /// A `rex_domain::reviver::LostReason` name.
    pub lost_reason: Option<String>,
    pub lost_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    /// An IANA zone (`Europe/Berlin`).
    pub time_zone: Option<String>,
    /// ISO 3166-1 alpha-2, any case.
    pub country: Option<String>,
    /// A [`ConsentBasis`] name.
    pub consent_basis: Option<String>,
    pub consent: ConsentFlags,
    pub attributes: serde_json::Value,
}

/// One problem with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// A [`FieldError`] located in the input: `row` is the 1-based position in the slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub row: usize,
    pub external_id: String,
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {} ({:?}): {}: {}",
            self.row, self.external_id, self.field, self.message
        )
    }
}

/// A company that passed validation, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCompany {
    pub external_id: String,
    pub name: String,
    /// Lower case.
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
    /// Upper case.
    pub country: Option<String>,
    pub attributes: serde_json::Value,
}

/// A lead that passed validation, normalized, with its address hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLead {
    pub external_id: String,
    pub company_external_id: Option<String>,
    pub email: Option<String>,
    pub email_hash: Option<String>,
    pub phone: Option<String>,
    pub phone_hash: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub source: String,
    pub stage: DealStage,
    pub lost_reason: Option<LostReason>,
    pub lost_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The zone's canonical name.
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub consent_basis: Option<ConsentBasis>,
    pub consent: ConsentFlags,
    pub attributes: serde_json::Value,
}

/// Collects the field errors of one row.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// A required short text: trimmed, non-empty, at most [`MAX_TEXT`] characters.
    fn required(&mut self, field: &'static str, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() {
            self.push(field, "is required");
        } else if value.chars().count() > MAX_TEXT {
            self.push(field, format!("is longer than {MAX_TEXT} characters"));
        }
        value.to_owned()
    }

    /// An optional short text: blank reads as absent.
    fn optional(&mut self, field: &'static str, value: Option<&String>) -> Option<String> {
        let value = blank_to_none(value)?;
        if value.chars().count() > MAX_TEXT {
            self.push(field, format!("is longer than {MAX_TEXT} characters"));
        }
        Some(value)
    }

    fn country(&mut self, field: &'static str, value: Option<&String>) -> Option<String> {
        let country = blank_to_none(value)?.to_ascii_uppercase();
        if !is_iso_country(&country) {
            self.push(
                field,
                format!("{country:?} is not an ISO 3166-1 alpha-2 country code"),
            );
        }
        Some(country)
    }

    fn attributes(&mut self, value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            serde_json::Value::Object(_) => value.clone(),
            _ => {
                self.push("attributes", "must be a JSON object");
                serde_json::Value::Null
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

fn blank_to_none(value: Option<&String>) -> Option<String> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Whether `code` is an ISO 3166-1 alpha-2 code (upper case).
pub fn is_iso_country(code: &str) -> bool {
    code.len() == 2 && ISO_COUNTRIES.split_ascii_whitespace().any(|c| c == code)
}

/// A phone with the usual punctuation dropped: `+1 (234) 901-3030` → `+12349013030`.
fn strip_phone_punctuation(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect()
}

pub fn validate_company(row: &CompanyRow) -> Result<ValidCompany, Vec<FieldError>> {
    let mut errors = Errors::default();
    let external_id = errors.required("external_id", &row.external_id);
    let name = errors.required("name", &row.name);
    let domain = errors
        .optional("domain", row.domain.as_ref())
        .map(|d| d.to_ascii_lowercase());
    if let Some(d) = &domain
        && (!d.contains('.') || d.contains(['@', '/', ' ']))
    {
        errors.push("domain", format!("{d:?} is not a domain name"));
    }
    let industry = errors.optional("industry", row.industry.as_ref());
    let employees = match row.employees {
        None => None,
        Some(n) => match i32::try_from(n) {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                errors.push("employees", format!("{n} is not a head count"));
                None
            }
        },
    };
    let country = errors.country("country", row.country.as_ref());
    let attributes = errors.attributes(&row.attributes);
    errors.finish(ValidCompany {
        external_id,
        name,
        domain,
        industry,
        employees,
        country,
        attributes,
    })
}

pub fn validate_lead(row: &LeadRow) -> Result<ValidLead, Vec<FieldError>> {
    let mut errors = Errors::default();
    let external_id = errors.required("external_id", &row.external_id);
    let company_external_id =
        errors.optional("company_external_id", row.company_external_id.as_ref());

    let email = blank_to_none(row.email.as_ref()).map(|e| e.to_lowercase());
    if let Some(e) = &email
        && !rex_domain::channel::is_email_address(e)
    {
        errors.push("email", format!("{e:?} is not an email address"));
    }
    let phone = blank_to_none(row.phone.as_ref()).map(|p| strip_phone_punctuation(&p));
    if let Some(p) = &phone
        && !rex_domain::channel::is_e164(p)
    {
        errors.push(
            "phone",
            format!("{p:?} is not an E.164 number (+ and 8 to 15 digits)"),
        );
    }

    let first_name = errors.optional("first_name", row.first_name.as_ref());
    let last_name = errors.optional("last_name", row.last_name.as_ref());
    let title = errors.optional("title", row.title.as_ref());
    let source = errors.required("source", &row.source);

    let stage_text = row.stage.trim().to_ascii_lowercase();
    let stage = parse_enum::<DealStage>(&stage_text);
    if stage.is_none() {
        errors.push(
            "stage",
            format!(
                "{:?} is not a deal stage (known: lead, mql, sql, demo, proposal, negotiation)",
                row.stage
            ),
        );
    }
    let lost_reason = match blank_to_none(row.lost_reason.as_ref()) {
        None => None,
        Some(text) => {
            let parsed = parse_enum::<LostReason>(&text.to_ascii_lowercase());
            if parsed.is_none() {
                errors.push(
                    "lost_reason",
                    format!(
                        "{text:?} is not a lost reason (known: timing, no_decision, budget, \
                         champion_left, competitor, bad_fit, do_not_contact, unknown, other)"
                    ),
                );
            }
            parsed
        }
    };
    let time_zone = match blank_to_none(row.time_zone.as_ref()) {
        None => None,
        Some(zone) => match zone.parse::<Tz>() {
            Ok(tz) => Some(tz.name().to_owned()),
            Err(_) => {
                errors.push("time_zone", format!("{zone:?} is not an IANA time zone"));
                None
            }
        },
    };
    let country = errors.country("country", row.country.as_ref());
    let consent_basis = match blank_to_none(row.consent_basis.as_ref()) {
        None => None,
        Some(text) => {
            let parsed = parse_enum::<ConsentBasis>(&text.to_ascii_lowercase());
            if parsed.is_none() {
                errors.push(
                    "consent_basis",
                    format!(
                        "{text:?} is not a consent basis (known: consent, legitimate_interest, \
                         contract)"
                    ),
                );
            }
            parsed
        }
    };
    let attributes = errors.attributes(&row.attributes);

    let Some(stage) = stage else {
        return Err(errors.0);
    };
    errors.finish(ValidLead {
        external_id,
        company_external_id,
        email_hash: email.as_deref().map(address_hash),
        email,
        phone_hash: phone.as_deref().map(address_hash),
        phone,
        first_name,
        last_name,
        title,
        source,
        stage,
        lost_reason,
        lost_at: row.lost_at.map(rex_store::to_db_precision),
        last_contact_at: row.last_contact_at.map(rex_store::to_db_precision),
        time_zone,
        country,
        consent_basis,
        consent: row.consent,
        attributes,
    })
}

/// Validates a batch: the valid rows with their 1-based row numbers, and every error.
/// A repeated external id is an error on each later row (the first one wins).
pub fn validate_leads(rows: &[LeadRow]) -> (Vec<(usize, ValidLead)>, Vec<RowError>) {
    validate_batch(rows, validate_lead, |r| &r.external_id, |v| &v.external_id)
}

/// [`validate_leads`] for companies.
pub fn validate_companies(rows: &[CompanyRow]) -> (Vec<(usize, ValidCompany)>, Vec<RowError>) {
    validate_batch(
        rows,
        validate_company,
        |r| &r.external_id,
        |v| &v.external_id,
    )
}

fn validate_batch<R, V>(
    rows: &[R],
    validate: impl Fn(&R) -> Result<V, Vec<FieldError>>,
    raw_id: impl Fn(&R) -> &String,
    valid_id: impl Fn(&V) -> &String,
) -> (Vec<(usize, V)>, Vec<RowError>) {
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, row) in rows.iter().enumerate() {
        let number = index + 1;
        match validate(row) {
            Ok(v) if !seen.insert(valid_id(&v).clone()) => errors.push(RowError {
                row: number,
                external_id: valid_id(&v).clone(),
                field: "external_id",
                message: "repeats an earlier row of this batch".to_owned(),
            }),
            Ok(v) => valid.push((number, v)),
            Err(fields) => errors.extend(fields.into_iter().map(|f| RowError {
                row: number,
                external_id: raw_id(row).trim().to_owned(),
                field: f.field,
                message: f.message,
            })),
        }
    }
    (valid, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(id: &str) -> LeadRow {
        LeadRow {
            external_id: id.into(),
            email: Some(" Ana@Acme.IO ".into()),
            phone: Some("+1 (234) 901-3030".into()),
            source: "hubspot".into(),
            stage: "Demo".into(),
            lost_reason: Some("timing".into()),
            time_zone: Some("Europe/Berlin".into()),
            country: Some("de".into()),
            consent_basis: Some("legitimate_interest".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_row_is_normalized() {
        let v = validate_lead(&lead("L1")).unwrap();
        assert_eq!(v.email.as_deref(), Some("ana@acme.io"));
        assert_eq!(v.phone.as_deref(), Some("+12349013030"));
        assert_eq!(v.country.as_deref(), Some("DE"));
        assert_eq!(v.stage, DealStage::Demo);
        assert_eq!(v.lost_reason, Some(LostReason::Timing));
        assert_eq!(v.consent_basis, Some(ConsentBasis::LegitimateInterest));
        assert_eq!(v.email_hash, Some(address_hash("ana@acme.io")));
        assert_eq!(v.attributes, serde_json::json!({}));
    }

    #[test]
    fn every_bad_field_of_a_row_is_reported() {
        let row = LeadRow {
            external_id: " ".into(),
            email: Some("ana@acme".into()),
            phone: Some("030 1234567".into()),
            source: "csv".into(),
            stage: "won".into(),
            time_zone: Some("Mars/Olympus".into()),
            country: Some("XX".into()),
            consent_basis: Some("vibes".into()),
            attributes: serde_json::json!([1]),
            ..Default::default()
        };
        let fields: Vec<_> = validate_lead(&row)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "external_id",
                "email",
                "phone",
                "stage",
                "time_zone",
                "country",
                "consent_basis",
                "attributes"
            ]
        );
    }

    #[test]
    fn blank_optional_fields_read_as_absent() {
        let mut row = lead("L1");
        row.email = Some("  ".into());
        row.time_zone = Some(String::new());
        let v = validate_lead(&row).unwrap();
        assert_eq!(v.email, None);
        assert_eq!(v.email_hash, None);
        assert_eq!(v.time_zone, None);
    }

    #[test]
    fn batch_errors_carry_one_based_row_numbers_and_flag_repeats() {
        let mut bad = lead("L2");
        bad.country = Some("Germany".into());
        let (valid, errors) = validate_leads(&[lead("L1"), bad, lead("L1")]);
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[0].0, 1);
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].row, errors[0].field), (2, "country"));
        assert_eq!((errors[1].row, errors[1].field), (3, "external_id"));
        assert_eq!(
            errors[0].to_string(),
            "row 2 (\"L2\"): country: \"GERMANY\" is not an ISO 3166-1 alpha-2 country code"
        );
    }

    #[test]
    fn companies_need_a_name_and_a_sane_head_count() {
        let row = CompanyRow {
            external_id: "C1".into(),
            employees: Some(-3),
            domain: Some("not a domain".into()),
            ..Default::default()
        };
        let fields: Vec<_> = validate_company(&row)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["name", "domain", "employees"]);
    }

    #[test]
    fn country_codes_come_from_iso_3166() {
        assert!(is_iso_country("DE"));
        assert!(is_iso_country("US"));
        assert!(!is_iso_country("XX"));
        assert!(!is_iso_country("D"));
        assert!(!is_iso_country("DE US"));
    }
}
