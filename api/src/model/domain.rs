//! The JSON of the domain resources: sending domains and mailboxes, leads and their
//! imports, the dry-run log. Built from `rex-domain-store` rows here, so the wire
//! format does not follow a column rename by accident.

use chrono::{DateTime, Utc};
use rex_domain_store::entity::{companies, dry_run_log, lead_history, leads, suppressions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The label every dry-run body carries: these are records of messages never sent.
pub const DRY_RUN_LABEL: &str = "DRY RUN — not sent";

/// `POST /v1/domains`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainRequest {
    /// A domain name (`mail.example.com`), any case.
    pub domain: String,
}

/// `POST /v1/domains/{id}/pause` and `POST /v1/mailboxes/{id}/pause`; the body may be
/// empty.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Why (kept with the pause, shown in listings); at most 500 characters.
    pub reason: Option<String>,
}

/// `POST /v1/domains/{id}/mailboxes`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxRequest {
    /// An address on the domain (`ana@mail.example.com`).
    pub address: String,
    /// The operator's ceiling of sends per day, 1 to 40 (the warmup table's top);
    /// default 40. Warmup and health only lower it.
    pub daily_cap: Option<u32>,
    /// When the mailbox started warming up; default now. A mailbox that was warmed
    /// elsewhere can name an earlier time.
    pub warmup_started_at: Option<DateTime<Utc>>,
}

/// Where a mailbox (or a domain's youngest mailbox) stands in its warmup.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Warmup {
    /// `warming` (its cap still grows with age), `warm`, or `none` (a domain without
    /// mailboxes).
    pub state: String,
    /// Days since warmup started, counting the first day as 1; null for `none`.
    pub day: Option<u32>,
    /// The warmup table's cap for today, before health and the operator's cap.
    pub cap: Option<u32>,
}

/// A mailbox with its cap, today's sends and health.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MailboxView {
    pub id: Uuid,
    pub domain_id: Uuid,
    pub address: String,
    /// `excellent`, `good`, `warning`, `paused` or `blocked`.
    pub health: String,
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// The operator's ceiling.
    pub daily_cap: u32,
    /// What it may send today: the least of the operator's cap and warmup, less for a
    /// poor health tier, zero when it or its domain is paused.
    pub cap_today: u32,
    /// Sends taken today (UTC).
    pub used_today: u32,
    pub warmup: Warmup,
    /// The rolling window's counters the health tier comes from.
    pub window_sent: u32,
    pub window_bounced: u32,
    pub window_complained: u32,
    /// The window's hard bounces over its sends (at least 100, the sample floor), as
    /// a fraction; compare with `thresholds.bounce`.
    pub bounce_rate: f64,
    /// The window's complaints over its sends (at least 1000), as a fraction.
    pub complaint_rate: f64,
    pub created_at: DateTime<Utc>,
}

/// A sending domain with its health, warmup and mailboxes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    pub domain: String,
    /// `excellent`, `good`, `warning`, `paused` or `blocked`.
    pub health: String,
    /// Pausing a domain stops all its mailboxes.
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// The warmup of its youngest mailbox.
    pub warmup: Warmup,
    pub mailboxes: Vec<MailboxView>,
    /// Its mailboxes' windows together, as each mailbox's rates are counted.
    pub bounce_rate: f64,
    pub complaint_rate: f64,
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/domains`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DomainList {
    pub items: Vec<DomainView>,
    pub thresholds: HealthThresholds,
}

/// The lines between health tiers, as fractions: a rate at or above `lines[i]` is
/// worse than `tiers[i]` (`excellent`, `good`, `warning`, `paused`; beyond the last
/// line, `blocked`). Bounces count over sent, complaints over delivered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthThresholds {
    pub tiers: Vec<String>,
    pub bounce: Vec<f64>,
    pub complaint: Vec<f64>,
}

impl HealthThresholds {
    pub fn current() -> Self {
        use rex_domain::deliverability::{BOUNCE_LINES, COMPLAINT_LINES};
        Self {
            tiers: ["excellent", "good", "warning", "paused", "blocked"]
                .map(str::to_owned)
                .to_vec(),
            bounce: BOUNCE_LINES.to_vec(),
            complaint: COMPLAINT_LINES.to_vec(),
        }
    }
}

/// One lead of a JSON import: the fields of a CSV column each (see
/// `POST /v1/leads/import`), with `consent` as `{email, sms, linkedin}` and
/// `attributes` as an object. `external_id`, `source` and `stage` are required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LeadImportRow {
    pub external_id: String,
    pub company_external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub source: String,
    /// `lead`, `mql`, `sql`, `demo`, `proposal`, `negotiation`.
    pub stage: String,
    pub lost_reason: Option<String>,
    pub lost_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    /// `consent`, `legitimate_interest` or `contract`.
    pub consent_basis: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub consent: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// `POST /v1/leads/import` as JSON.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadImportRequest {
    /// The rows; each is validated on its own (a bad one is reported, not fatal).
    #[schema(value_type = Vec<LeadImportRow>)]
    pub leads: Vec<Value>,
}

/// A row an import did not write, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RejectedRow {
    /// The row as the caller sees it: the CSV line (the header is line 1), or the
    /// 1-based position in the JSON `leads` array.
    pub row: usize,
    pub external_id: String,
    /// The column or field at fault.
    pub field: String,
    pub message: String,
}

/// What an import did. Every valid row was written, in one transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    pub inserted: usize,
    pub updated: usize,
    /// Rows identical to what was stored: nothing written.
    pub unchanged: usize,
    /// How many rows were rejected (each problem is in `errors`).
    pub rejected: usize,
    pub errors: Vec<RejectedRow>,
}

/// `GET /v1/leads` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Only this deal stage (`lead`, `mql`, `sql`, `demo`, `proposal`, `negotiation`).
    pub stage: Option<String>,
    /// Only leads of this company (its id in Rex).
    pub company_id: Option<Uuid>,
    /// Page size, 1 to the server's maximum (default: the maximum).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A lead as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub external_id: String,
    pub company_id: Option<Uuid>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub source: String,
    pub stage: String,
    pub lost_reason: Option<String>,
    pub lost_at: Option<DateTime<Utc>>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub consent_basis: Option<String>,
    #[schema(value_type = Object)]
    pub consent: Value,
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Fit to the tenant's ICP, 0–100; null until scored.
    pub fit: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&leads::Model> for LeadView {
    fn from(l: &leads::Model) -> Self {
        Self {
            id: l.id,
            external_id: l.external_id.clone(),
            company_id: l.company_id,
            email: l.email.clone(),
            phone: l.phone.clone(),
            first_name: l.first_name.clone(),
            last_name: l.last_name.clone(),
            title: l.title.clone(),
            source: l.source.clone(),
            stage: l.stage.clone(),
            lost_reason: l.lost_reason.clone(),
            lost_at: l.lost_at,
            last_contact_at: l.last_contact_at,
            time_zone: l.time_zone.clone(),
            country: l.country.clone(),
            consent_basis: l.consent_basis.clone(),
            consent: l.consent.clone(),
            attributes: l.attributes.clone(),
            fit: l.fit,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// `GET /v1/leads`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadPage {
    pub items: Vec<LeadView>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// A lead's company.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CompanyView {
    pub id: Uuid,
    pub external_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
    pub country: Option<String>,
}

impl From<&companies::Model> for CompanyView {
    fn from(c: &companies::Model) -> Self {
        Self {
            id: c.id,
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            domain: c.domain.clone(),
            industry: c.industry.clone(),
            employees: c.employees,
            country: c.country.clone(),
        }
    }
}

/// One import or change of a lead.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadChange {
    /// `imported` or `updated`.
    pub kind: String,
    /// `{field: {"old": …, "new": …}}`.
    #[schema(value_type = Object)]
    pub changes: Value,
    pub at: DateTime<Utc>,
}

impl From<&lead_history::Model> for LeadChange {
    fn from(h: &lead_history::Model) -> Self {
        Self {
            kind: h.kind.clone(),
            changes: h.changes.clone(),
            at: h.at,
        }
    }
}

/// One active suppression of a lead's address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuppressionView {
    /// `email` or `sms`.
    pub channel: String,
    /// `unsubscribe`, `sms_stop`, `complaint`, `hard_bounce`, `objection`…
    pub reason: String,
    pub since: DateTime<Utc>,
    /// What caused it (a webhook event, a reply, an unsubscribe link…).
    pub source_event: String,
}

impl From<&suppressions::Model> for SuppressionView {
    fn from(s: &suppressions::Model) -> Self {
        Self {
            channel: s.channel.clone(),
            reason: s.reason.clone(),
            since: s.suppressed_at,
            source_event: s.source_event.clone(),
        }
    }
}

/// Whether Rex may contact a lead: the active ledger entries on its addresses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SuppressionState {
    pub suppressed: bool,
    /// The distinct reasons, in the order they took effect.
    pub reasons: Vec<String>,
    /// When the earliest active entry took effect.
    pub since: Option<DateTime<Utc>>,
    pub entries: Vec<SuppressionView>,
}

impl SuppressionState {
    pub fn of(entries: &[suppressions::Model]) -> Self {
        let mut reasons: Vec<String> = Vec::new();
        for e in entries {
            if !reasons.contains(&e.reason) {
                reasons.push(e.reason.clone());
            }
        }
        Self {
            suppressed: !entries.is_empty(),
            reasons,
            since: entries.iter().map(|e| e.suppressed_at).min(),
            entries: entries.iter().map(SuppressionView::from).collect(),
        }
    }
}

/// `GET /v1/leads/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadDetail {
    #[serde(flatten)]
    pub lead: LeadView,
    pub company: Option<CompanyView>,
    /// Every import and change, oldest first.
    pub history: Vec<LeadChange>,
    pub suppression: SuppressionState,
}

/// `GET /v1/dry-run` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DryRunQuery {
    /// Only this provider's entries (`sendgrid`, `twilio`…).
    pub provider: Option<String>,
    /// Only the entries of this message.
    pub message_id: Option<Uuid>,
    /// Page size, 1 to the server's maximum (default: the maximum).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One thing a provider stand-in would have sent, and did not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DryRunEntry {
    /// Always true: nothing here was delivered.
    pub dry_run: bool,
    /// Always `DRY RUN — not sent`.
    pub label: String,
    pub id: Uuid,
    pub message_id: Option<Uuid>,
    pub provider: String,
    pub operation: String,
    pub recipient: String,
    /// `[[name, value], …]`, as the real request would have carried them.
    pub headers: Vec<(String, String)>,
    pub rendered: String,
    pub recorded_at: DateTime<Utc>,
}

impl DryRunEntry {
    pub fn from_row(row: &dry_run_log::Model) -> Self {
        Self {
            dry_run: true,
            label: DRY_RUN_LABEL.to_owned(),
            id: row.id,
            message_id: row.message_id,
            provider: row.provider.clone(),
            operation: row.operation.clone(),
            recipient: row.recipient.clone(),
            headers: row.header_pairs().unwrap_or_default(),
            rendered: row.rendered.clone(),
            recorded_at: row.recorded_at,
        }
    }
}

/// `GET /v1/dry-run`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DryRunPage {
    /// Always true: nothing listed here was delivered.
    pub dry_run: bool,
    /// Always `DRY RUN — not sent`.
    pub label: String,
    pub items: Vec<DryRunEntry>,
    pub next_cursor: Option<String>,
}
