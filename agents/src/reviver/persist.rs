//! `reviver.import`'s writes: the checked records as the store's rows (pure), then one
//! transaction per [`CHUNK`] records (IO).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use rex_domain_store::{
    CompanyRow, ImportReport, LeadRow, NewSuppression, RowError, Suppressed, import_companies,
    import_leads, suppress,
};
use rex_store::Store;
use rex_workers::StepError;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::input::{Obj, get};
use crate::store_error;

/// Records per transaction (chosen: a chunk commits in well under a second on SQLite,
/// and a failure late in a big file keeps the chunks already written).
pub const CHUNK: usize = 500;

fn text_at(lead: &Obj, dotted: &str) -> Option<String> {
    get(lead, dotted)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The lead's company, keyed by its domain (else its name), as the CRM gives no id.
fn company_row(lead: &Obj) -> Option<CompanyRow> {
    let name = text_at(lead, "company.name");
    let domain = text_at(lead, "company.domain").map(|d| d.to_ascii_lowercase());
    let external_id = domain.clone().or_else(|| name.clone())?;
    Some(CompanyRow {
        name: name.unwrap_or_else(|| external_id.clone()),
        external_id,
        domain,
        industry: text_at(lead, "company.industry"),
        employees: get(lead, "company.employees").and_then(Value::as_i64),
        country: None,
        attributes: Value::Null,
    })
}

/// The record as a `leads` row. Only fields the import already checked are taken as
/// they are; an unknown zone is left out (the record keeps it, `timezone_valid: false`).
fn lead_row(lead: &Obj, company: Option<&CompanyRow>, source: &str) -> Result<LeadRow, String> {
    let consent = match get(lead, "consent") {
        None => Default::default(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| e.to_string())?,
    };
    let attributes: Obj = [
        "linkedin_url",
        "email_status",
        "region",
        "history.engagement",
        "history.pain_point",
        "history.created_at",
    ]
    .iter()
    .filter_map(|k| {
        let v = get(lead, k)?;
        let key = k.rsplit('.').next().unwrap_or(k);
        Some((key.to_owned(), v.clone()))
    })
    .collect();
    Ok(LeadRow {
        external_id: text_at(lead, "id").unwrap_or_default(),
        company_external_id: company.map(|c| c.external_id.clone()),
        email: text_at(lead, "email"),
        phone: text_at(lead, "phone"),
        first_name: text_at(lead, "first_name"),
        last_name: text_at(lead, "last_name"),
        title: text_at(lead, "title"),
        source: text_at(lead, "history.source").unwrap_or_else(|| source.to_owned()),
        stage: text_at(lead, "history.stage").unwrap_or_else(|| "lead".into()),
        lost_reason: text_at(lead, "history.lost_reason"),
        lost_at: None,
        last_contact_at: text_at(lead, "history.last_contact_at").and_then(|t| t.parse().ok()),
        time_zone: if lead.get("timezone_valid") == Some(&Value::Bool(true)) {
            text_at(lead, "timezone")
        } else {
            None
        },
        country: text_at(lead, "country"),
        consent_basis: None,
        consent,
        attributes: Value::Object(attributes),
    })
}

/// Which of the lead's addresses a suppression covers: a bounce, unsubscribe or
/// complaint is about email, a STOP about SMS, an objection or do-not-contact about
/// every channel. A `suppression` without a known reason counts as do-not-contact
/// (chosen: when in doubt, do not contact).
fn suppression_entries(
    lead: &Obj,
    tenant_id: Uuid,
    source_event: &str,
    now: DateTime<Utc>,
) -> Result<Vec<NewSuppression>, Value> {
    let value = match lead.get("suppression") {
        None | Some(Value::Null | Value::Bool(false)) => return Ok(Vec::new()),
        Some(v) => v,
    };
    let reason = value
        .get("reason")
        .and_then(|r| serde_json::from_value::<SuppressionReason>(r.clone()).ok())
        .unwrap_or(SuppressionReason::DoNotContact);
    let at = value
        .get("at")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<DateTime<Utc>>().ok())
        .unwrap_or(now);
    let channels: &[Channel] = match reason {
        SuppressionReason::SmsStop => &[Channel::Sms],
        SuppressionReason::Unsubscribe
        | SuppressionReason::HardBounce
        | SuppressionReason::Complaint => &[Channel::Email],
        SuppressionReason::Objection | SuppressionReason::DoNotContact => {
            &[Channel::Email, Channel::Sms]
        }
    };
    let entries: Vec<NewSuppression> = channels
        .iter()
        .filter_map(|&channel| {
            let field = if channel == Channel::Sms {
                "phone"
            } else {
                "email"
            };
            Some(NewSuppression {
                tenant_id,
                channel,
                address: text_at(lead, field)?,
                reason,
                source_event: source_event.to_owned(),
                at,
            })
        })
        .collect();
    if entries.is_empty() {
        return Err(json!({
            "field": "suppression", "value": value,
            "reason": "no address for the ledger: not recorded",
        }));
    }
    Ok(entries)
}

#[derive(Default)]
struct Totals {
    leads: ImportReport,
    companies: ImportReport,
    ledger_new: usize,
    ledger_existing: usize,
}

fn add(into: &mut ImportReport, r: &ImportReport) {
    into.inserted += r.inserted;
    into.updated += r.updated;
    into.unchanged += r.unchanged;
}

/// Writes `out.leads` for `tenant_id`, then moves the rows the store refused to
/// `out.rejected` and adds the store's counts to `out.counts`. `indices[i]` is the
/// input position of `out.leads[i]`.
pub(super) async fn persist(
    store: &Store,
    tenant_id: Uuid,
    source: &str,
    now: DateTime<Utc>,
    indices: &[usize],
    out: &mut Obj,
) -> Result<(), StepError> {
    let source_event = format!("import:{source}");
    let mut leads = match out.remove("leads") {
        Some(Value::Array(leads)) => leads,
        _ => Vec::new(),
    };
    let mut totals = Totals::default();
    // lead position -> the store's problems with it
    let mut refused: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
    let mut extra_warnings = 0usize;
    for (chunk_no, chunk) in leads.chunks_mut(CHUNK).enumerate() {
        let base = chunk_no * CHUNK;
        let mut companies: BTreeMap<String, CompanyRow> = BTreeMap::new();
        let mut rows = Vec::with_capacity(chunk.len());
        let mut row_pos = Vec::with_capacity(chunk.len());
        let mut entries = Vec::new();
        for (offset, lead) in chunk.iter_mut().enumerate() {
            let Value::Object(lead) = lead else { continue };
            match suppression_entries(lead, tenant_id, &source_event, now) {
                Ok(e) => entries.extend(e),
                Err(warning) => {
                    extra_warnings += 1;
                    if let Some(Value::Array(w)) = lead.get_mut("warnings") {
                        w.push(warning);
                    }
                }
            }
            let company = company_row(lead);
            match lead_row(lead, company.as_ref(), source) {
                Ok(row) => {
                    rows.push(row);
                    row_pos.push(base + offset);
                }
                Err(e) => {
                    refused
                        .entry(base + offset)
                        .or_default()
                        .push(json!({"field": "consent", "reason": e}));
                }
            }
            if let Some(c) = company {
                companies.entry(c.external_id.clone()).or_insert(c);
            }
        }
        let companies: Vec<CompanyRow> = companies.into_values().collect();

        let txn = store
            .begin()
            .await
            .map_err(|e| store_error("import", &e.into()))?;
        let report = import_companies(&txn, tenant_id, &companies, now)
            .await
            .map_err(|e| store_error("import companies", &e))?;
        add(&mut totals.companies, &report);
        // a lead whose company was refused is kept without it, with a warning
        let bad_companies: BTreeMap<&str, &RowError> = report
            .errors
            .iter()
            .map(|e| (e.external_id.as_str(), e))
            .collect();
        for (row, &pos) in rows.iter_mut().zip(&row_pos) {
            let Some(err) = row
                .company_external_id
                .as_deref()
                .and_then(|c| bad_companies.get(c))
            else {
                continue;
            };
            row.company_external_id = None;
            extra_warnings += 1;
            if let Some(Value::Array(w)) = leads_warnings(chunk, pos - base) {
                w.push(json!({
                    "field": format!("company.{}", err.field),
                    "value": err.external_id,
                    "reason": format!("company not stored: {}", err.message),
                }));
            }
        }
        let report = import_leads(&txn, tenant_id, &rows, now)
            .await
            .map_err(|e| store_error("import leads", &e))?;
        add(&mut totals.leads, &report);
        for e in &report.errors {
            // `row` is 1-based in `rows`
            let Some(&pos) = e.row.checked_sub(1).and_then(|i| row_pos.get(i)) else {
                continue;
            };
            refused
                .entry(pos)
                .or_default()
                .push(json!({"field": e.field, "reason": e.message}));
        }
        for entry in &entries {
            match suppress(&txn, entry)
                .await
                .map_err(|e| store_error("suppress", &e))?
            {
                Suppressed::New(_) | Suppressed::Reinstated(_) => totals.ledger_new += 1,
                Suppressed::Existing(_) => totals.ledger_existing += 1,
            }
        }
        txn.commit()
            .await
            .map_err(|e| store_error("import commit", &e.into()))?;
    }

    let mut rejected = match out.remove("rejected") {
        Some(Value::Array(r)) => r,
        _ => Vec::new(),
    };
    let refused_set: BTreeSet<usize> = refused.keys().copied().collect();
    for (pos, errors) in refused {
        let index = indices.get(pos).copied().unwrap_or(pos);
        rejected.push(json!({
            "index": index,
            "row": index + 1,
            "id": leads[pos].get("id"),
            "field": errors[0]["field"],
            "reason": format!("not stored: {}", errors[0]["reason"].as_str().unwrap_or("")),
            "errors": errors,
        }));
    }
    let mut pos = 0;
    leads.retain(|_| {
        pos += 1;
        !refused_set.contains(&(pos - 1))
    });
    if let Some(Value::Object(counts)) = out.get_mut("counts") {
        counts.insert("imported".into(), json!(leads.len()));
        counts.insert("rejected".into(), json!(rejected.len()));
        let warnings = counts["warnings"].as_u64().unwrap_or(0);
        counts.insert("warnings".into(), json!(warnings as usize + extra_warnings));
        counts.insert("inserted".into(), json!(totals.leads.inserted));
        counts.insert("updated".into(), json!(totals.leads.updated));
        counts.insert("unchanged".into(), json!(totals.leads.unchanged));
        counts.insert(
            "companies".into(),
            json!({
                "inserted": totals.companies.inserted,
                "updated": totals.companies.updated,
                "unchanged": totals.companies.unchanged,
            }),
        );
        counts.insert(
            "ledger".into(),
            json!({"new": totals.ledger_new, "existing": totals.ledger_existing}),
        );
    }
    out.insert("leads".into(), Value::Array(leads));
    out.insert("rejected".into(), Value::Array(rejected));
    Ok(())
}

fn leads_warnings(chunk: &mut [Value], offset: usize) -> Option<&mut Value> {
    chunk.get_mut(offset)?.get_mut("warnings")
}
