//! Lead rows from CSV text (RFC 4180): the parsing shared by every CSV import (the
//! API's `POST /v1/leads/import`), pure and bounded.
//!
//! The first record is the header; its names are [`LeadRow`]'s fields
//! ([`LEAD_COLUMNS`], any case, surrounding blanks ignored), plus `consent_email`,
//! `consent_sms` and `consent_linkedin` (`granted`, `unknown`, `denied`) for
//! `consent`, and `attributes` holding a JSON object. `external_id`, `source` and
//! `stage` must be present ([`REQUIRED_COLUMNS`]); an unknown or repeated column is
//! refused, like an unknown JSON field. Every row is numbered by the line it starts on,
//! counting the header as line 1, as a spreadsheet shows it. A cell that does not
//! convert (a date that is not RFC 3339, attributes that are not JSON) rejects its row
//! with a [`RowError`]; the row is not handed on.

use chrono::{DateTime, Utc};
use rex_domain::channel::Consent;

use crate::validate::{LeadRow, RowError};

/// The columns a lead CSV may have.
pub const LEAD_COLUMNS: [&str; 19] = [
    "external_id",
    "company_external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "title",
    "source",
    "stage",
    "lost_reason",
    "lost_at",
    "last_contact_at",
    "time_zone",
    "country",
    "consent_basis",
    "consent_email",
    "consent_sms",
    "consent_linkedin",
    "attributes",
];

/// The columns without which no row can be valid.
pub const REQUIRED_COLUMNS: [&str; 3] = ["external_id", "source", "stage"];

/// Why a whole CSV document is refused (nothing of it is imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the CSV has no header line")]
    Empty,
    #[error("the header has no column {0:?}, which is required")]
    MissingColumn(&'static str),
    #[error("the header's column {0:?} is not one of {cols}", cols = LEAD_COLUMNS.join(", "))]
    UnknownColumn(String),
    #[error("the header names column {0:?} twice")]
    RepeatedColumn(String),
    #[error("line {line}: a quoted field is not closed")]
    UnclosedQuote { line: usize },
    #[error("line {line}: a quote inside an unquoted field, or text after a closing quote")]
    StrayQuote { line: usize },
    #[error("line {line}: {found} fields where the header has {expected}")]
    FieldCount {
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("more than {0} rows")]
    TooManyRows(usize),
}

impl CsvError {
    /// The column or line at fault, as an API names it: the column's name, or
    /// `line <n>`.
    pub fn field(&self) -> Option<String> {
        match self {
            CsvError::Empty | CsvError::TooManyRows(_) => None,
            CsvError::MissingColumn(c) => Some((*c).to_owned()),
            CsvError::UnknownColumn(c) | CsvError::RepeatedColumn(c) => Some(c.clone()),
            CsvError::UnclosedQuote { line }
            | CsvError::StrayQuote { line }
            | CsvError::FieldCount { line, .. } => Some(format!("line {line}")),
        }
    }
}

/// The rows read, each with its line, and the rows rejected while converting cells.
pub type CsvLeads = (Vec<(usize, LeadRow)>, Vec<RowError>);

/// One record and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Splits CSV text into records: fields separated by `,`, records by LF or CRLF,
/// `"…"` quoting with `""` for a quote (newlines allowed inside quotes). A leading
/// UTF-8 BOM is dropped; blank lines are skipped.
pub fn parse_records(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let (mut line, mut start_line) = (1usize, 1usize);
    let (mut in_quotes, mut was_quoted) = (false, false);
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if in_quotes {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(ch),
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() && !was_quoted => {
                in_quotes = true;
                was_quoted = true;
            }
            '"' => return Err(CsvError::StrayQuote { line }),
            ',' => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
                end_record(&mut records, &mut fields, start_line);
                line += 1;
                start_line = line;
            }
            _ if was_quoted => return Err(CsvError::StrayQuote { line }),
            _ => field.push(ch),
        }
    }
    if in_quotes {
        return Err(CsvError::UnclosedQuote { line: start_line });
    }
    fields.push(field);
    end_record(&mut records, &mut fields, start_line);
    Ok(records)
}

fn end_record(records: &mut Vec<Record>, fields: &mut Vec<String>, line: usize) {
    let fields = std::mem::take(fields);
    let blank = fields.len() == 1 && fields[0].trim().is_empty();
    if !blank {
        records.push(Record { line, fields });
    }
}

/// Lead rows from CSV text, each with its line number, and the rows rejected while
/// converting cells. At most `max_rows` rows (the header not counted).
pub fn lead_rows_from_csv(text: &str, max_rows: usize) -> Result<CsvLeads, CsvError> {
    let mut records = parse_records(text)?.into_iter();
    let header = records.next().ok_or(CsvError::Empty)?;
    let mut columns: Vec<&'static str> = Vec::with_capacity(header.fields.len());
    for name in &header.fields {
        let name = name.trim().to_ascii_lowercase();
        let known = LEAD_COLUMNS
            .iter()
            .find(|c| **c == name)
            .ok_or_else(|| CsvError::UnknownColumn(name.clone()))?;
        if columns.contains(known) {
            return Err(CsvError::RepeatedColumn(name));
        }
        columns.push(known);
    }
    if let Some(missing) = REQUIRED_COLUMNS.iter().find(|c| !columns.contains(c)) {
        return Err(CsvError::MissingColumn(missing));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in records {
        if rows.len() + errors.len() >= max_rows {
            return Err(CsvError::TooManyRows(max_rows));
        }
        if record.fields.len() != columns.len() {
            return Err(CsvError::FieldCount {
                line: record.line,
                found: record.fields.len(),
                expected: columns.len(),
            });
        }
        match lead_row(&columns, &record.fields) {
            Ok(row) => rows.push((record.line, row)),
            Err((external_id, field, message)) => errors.push(RowError {
                row: record.line,
                external_id,
                field,
                message,
            }),
        }
    }
    Ok((rows, errors))
}

/// The row's external id, the column at fault and why.
type CellError = (String, &'static str, String);

fn lead_row(columns: &[&'static str], cells: &[String]) -> Result<LeadRow, CellError> {
    let mut row = LeadRow::default();
    let mut problem: Option<(&'static str, String)> = None;
    for (column, cell) in columns.iter().zip(cells) {
        let text = cell.trim();
        let opt = || (!text.is_empty()).then(|| text.to_owned());
        let result: Result<(), String> = match *column {
            "external_id" => {
                row.external_id = text.to_owned();
                Ok(())
            }
            "company_external_id" => {
                row.company_external_id = opt();
                Ok(())
            }
            "email" => {
                row.email = opt();
                Ok(())
            }
            "phone" => {
                row.phone = opt();
                Ok(())
            }
            "first_name" => {
                row.first_name = opt();
                Ok(())
            }
            "last_name" => {
                row.last_name = opt();
                Ok(())
            }
            "title" => {
                row.title = opt();
                Ok(())
            }
            "source" => {
                row.source = text.to_owned();
                Ok(())
            }
            "stage" => {
                row.stage = text.to_owned();
                Ok(())
            }
            "lost_reason" => {
                row.lost_reason = opt();
                Ok(())
            }
            "lost_at" => time(text).map(|t| row.lost_at = t),
            "last_contact_at" => time(text).map(|t| row.last_contact_at = t),
            "time_zone" => {
                row.time_zone = opt();
                Ok(())
            }
            "country" => {
                row.country = opt();
                Ok(())
            }
            "consent_basis" => {
                row.consent_basis = opt();
                Ok(())
            }
            "consent_email" => consent(text).map(|c| row.consent.email = c),
            "consent_sms" => consent(text).map(|c| row.consent.sms = c),
            "consent_linkedin" => consent(text).map(|c| row.consent.linkedin = c),
            "attributes" if text.is_empty() => Ok(()),
            "attributes" => serde_json::from_str(text)
                .map(|v| row.attributes = v)
                .map_err(|e| format!("is not JSON: {e}")),
            _ => Ok(()),
        };
        if let Err(message) = result
            && problem.is_none()
        {
            problem = Some((column, message));
        }
    }
    match problem {
        None => Ok(row),
        Some((field, message)) => Err((row.external_id.trim().to_owned(), field, message)),
    }
}

fn time(text: &str) -> Result<Option<DateTime<Utc>>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| format!("{text:?} is not an RFC 3339 time (2024-05-01T09:00:00Z)"))
}

fn consent(text: &str) -> Result<Consent, String> {
    match text.to_ascii_lowercase().as_str() {
        "" | "unknown" => Ok(Consent::Unknown),
        "granted" => Ok(Consent::Granted),
        "denied" => Ok(Consent::Denied),
        _ => Err(format!("{text:?} is not one of granted, unknown, denied")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_hold_commas_quotes_and_newlines() {
        let records =
            parse_records("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",z\n").unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].fields, ["x, y", "say \"hi\""]);
        assert_eq!(records[1].line, 2);
        assert_eq!(records[2].fields, ["two\nlines", "z"]);
        assert_eq!(records[2].line, 4);
    }

    #[test]
    fn broken_quoting_is_refused_with_its_line() {
        assert_eq!(
            parse_records("a\n\"open"),
            Err(CsvError::UnclosedQuote { line: 2 })
        );
        assert_eq!(
            parse_records("a\nx\"y"),
            Err(CsvError::StrayQuote { line: 2 })
        );
        assert_eq!(
            parse_records("a\n\"x\"y"),
            Err(CsvError::StrayQuote { line: 2 })
        );
    }

    #[test]
    fn rows_are_numbered_by_their_line_counting_the_header() {
        let text = "\u{feff}External_ID,source,stage,lost_at,consent_email\n\
                    L1,hubspot,demo,2024-05-01T09:00:00Z,granted\n\
                    L2,hubspot,demo,yesterday,\n\
                    L3,hubspot,demo,,maybe\n";
        let (rows, errors) = lead_rows_from_csv(text, 10).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.external_id, "L1");
        assert_eq!(rows[0].1.consent.email, Consent::Granted);
        assert!(rows[0].1.lost_at.is_some());
        let located: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field)).collect();
        assert_eq!(located, [(3, "lost_at"), (4, "consent_email")]);
    }

    #[test]
    fn a_header_without_a_required_column_or_with_an_unknown_one_is_refused() {
        assert_eq!(
            lead_rows_from_csv("external_id,source\nL1,x\n", 10),
            Err(CsvError::MissingColumn("stage"))
        );
        assert_eq!(
            lead_rows_from_csv("external_id,source,stage,colour\n", 10),
            Err(CsvError::UnknownColumn("colour".into()))
        );
        assert_eq!(
            lead_rows_from_csv("external_id,source,stage,source\n", 10),
            Err(CsvError::RepeatedColumn("source".into()))
        );
        assert_eq!(lead_rows_from_csv("", 10), Err(CsvError::Empty));
        assert_eq!(
            lead_rows_from_csv("external_id,source,stage\nL1,x\n", 10),
            Err(CsvError::FieldCount {
                line: 2,
                found: 2,
                expected: 3
            })
        );
        assert_eq!(
            lead_rows_from_csv("external_id,source,stage\na,b,c\nd,e,f\n", 1),
            Err(CsvError::TooManyRows(1))
        );
    }
}
