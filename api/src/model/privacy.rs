//! The JSON of `/v1/secrets`, `/v1/leads/{id}/export|erase` and `/v1/audit`.

use chrono::{DateTime, Utc};
use rex_domain_store::entity::audit_log;
use rex_domain_store::{ErasureReport, SecretInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `PUT /v1/secrets/{name}`.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRequest {
    /// The credential; stored encrypted, never returned.
    pub value: String,
}

/// Never prints the value.
impl std::fmt::Debug for SecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretRequest { value: [redacted] }")
    }
}

/// A stored secret: its name and metadata, never its value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    /// E.g. `sendgrid.api_key`.
    pub name: String,
    /// The encryption key that sealed it (changes on `rex secrets rotate`).
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SecretInfo> for SecretView {
    fn from(s: SecretInfo) -> Self {
        SecretView {
            name: s.name,
            key_id: s.key_id,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SecretList {
    pub items: Vec<SecretView>,
    /// Every name a secret may have.
    pub names: Vec<String>,
}

/// Everything held on a lead (GDPR access): each part as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeadExportView {
    #[schema(value_type = Object)]
    pub lead: Value,
    #[schema(value_type = Option<Object>)]
    pub company: Value,
    #[schema(value_type = Vec<Object>)]
    pub history: Value,
    #[schema(value_type = Vec<Object>)]
    pub messages: Value,
    #[schema(value_type = Vec<Object>)]
    pub delivery_events: Value,
    #[schema(value_type = Vec<Object>)]
    pub suppressions: Value,
    #[schema(value_type = Vec<Object>)]
    pub dry_run: Value,
    pub exported_at: DateTime<Utc>,
}

/// The answer of `POST /v1/leads/{id}/erase`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErasureView {
    pub lead_id: Uuid,
    /// False when the lead had been erased before (nothing was left to remove).
    pub newly_erased: bool,
    pub erased_at: Option<DateTime<Utc>>,
    /// Rows whose personal fields were removed, per table.
    pub history_entries: u64,
    pub messages: u64,
    pub delivery_events: u64,
    pub dry_run_entries: u64,
    /// Suppression entries recorded so the person is never contacted again.
    pub suppressions_added: u64,
}

impl ErasureView {
    pub fn new(lead_id: Uuid, r: ErasureReport) -> Self {
        ErasureView {
            lead_id,
            newly_erased: r.newly_erased,
            erased_at: r.erased_at,
            history_entries: r.history_entries,
            messages: r.messages,
            delivery_events: r.delivery_events,
            dry_run_entries: r.dry_run_entries,
            suppressions_added: r.suppressions_added,
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    /// The API key's id, or `cli`.
    pub actor: String,
    /// `secret.set`, `secret.delete`, `secret.rotate`, `lead.export`, `lead.erase`,
    /// `api_key.create`, `api_key.revoke`.
    pub action: String,
    /// A secret's name, a lead's or a key's id.
    pub target: String,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    /// Ids, names and counts; never personal data nor secret values.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<audit_log::Model> for AuditEntry {
    fn from(m: audit_log::Model) -> Self {
        AuditEntry {
            id: m.id,
            actor: m.actor,
            action: m.action,
            target: m.target,
            at: m.at,
            request_id: m.request_id,
            details: m.details,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of `GET /v1/audit`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 100 (default 100).
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
