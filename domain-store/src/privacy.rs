//! GDPR access and erasure of one lead.
//!
//! [`export_lead`] gathers everything held on a lead: its row, company, history,
//! messages, delivery events, suppression entries and dry-run entries. [`erase_lead`]
//! removes the personal data from all of them in one transaction and keeps the
//! addresses only as hashes on the suppression ledger (reason `do_not_contact`, source
//! `erasure`), so the person is never contacted again: the send path checks the ledger
//! by hash (`is_suppressed`), and the lead keeps its `email_hash`/`phone_hash`, so the
//! sweep that ends suppressed leads' missions finds it too. A re-import of an erased
//! lead's CRM id is refused (`import_leads`).
//!
//! What erasure keeps: ids, the CRM id, the stage and dates, consent flags, time zone
//! and country (no person is identified by them), the hashes, and each history entry's
//! list of changed fields without their values.

use chrono::{DateTime, Utc};
use rex_domain::Channel;
use rex_domain::outreach::SuppressionReason;
use sea_orm::sea_query::{Condition, Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionSession, TransactionTrait,
};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::enum_text;
use crate::entity::{
    companies, delivery_events, dry_run_log, lead_history, leads, messages, suppressions,
};
use crate::sql::insert_stmt;

/// What replaces erased free text.
pub const ERASED: &str = "[erased]";
/// The `source_event` of the suppression entries an erasure records.
pub const ERASURE_SOURCE: &str = "erasure";

/// Everything held on one lead (GDPR access).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadExport {
    pub lead: leads::Model,
    pub company: Option<companies::Model>,
    pub history: Vec<lead_history::Model>,
    pub messages: Vec<messages::Model>,
    pub delivery_events: Vec<delivery_events::Model>,
    pub suppressions: Vec<suppressions::Model>,
    pub dry_run: Vec<dry_run_log::Model>,
}

/// What [`erase_lead`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// False when the lead had been erased before (then nothing personal was left).
    pub newly_erased: bool,
    pub erased_at: Option<DateTime<Utc>>,
    pub history_entries: u64,
    pub messages: u64,
    pub delivery_events: u64,
    pub dry_run_entries: u64,
    /// Suppression entries recorded for the erasure (0 on a repeat).
    pub suppressions_added: u64,
}

/// The lead's addresses' hashes, with the channel each is suppressed on.
fn hashes(lead: &leads::Model) -> Vec<(Channel, String)> {
    let mut out = Vec::new();
    if let Some(h) = &lead.email_hash {
        out.push((Channel::Email, h.clone()));
    }
    if let Some(h) = &lead.phone_hash {
        out.push((Channel::Sms, h.clone()));
    }
    out
}

fn hash_list(lead: &leads::Model) -> Vec<String> {
    hashes(lead).into_iter().map(|(_, h)| h).collect()
}

/// The lead's rows outside `leads`, found by lead id, message id or address hash.
async fn related<C>(
    c: &C,
    lead: &leads::Model,
) -> Result<
    (
        Vec<messages::Model>,
        Vec<delivery_events::Model>,
        Vec<dry_run_log::Model>,
    ),
    DomainStoreError,
>
where
    C: ConnectionTrait,
{
    let tenant_id = lead.tenant_id;
    let messages = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant_id))
        .filter(messages::Column::LeadId.eq(lead.id))
        .order_by_asc(messages::Column::IntendedAt)
        .order_by_asc(messages::Column::Id)
        .all(c)
        .await?;
    let message_ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
    let mut events = Condition::any();
    if !message_ids.is_empty() {
        events = events.add(delivery_events::Column::MessageId.is_in(message_ids.clone()));
    }
    let hashes = hash_list(lead);
    if !hashes.is_empty() {
        events = events.add(delivery_events::Column::AddressHash.is_in(hashes));
    }
    let delivery_events = if events.is_empty() {
        Vec::new()
    } else {
        delivery_events::Entity::find()
            .filter(delivery_events::Column::TenantId.eq(tenant_id))
            .filter(events)
            .order_by_asc(delivery_events::Column::OccurredAt)
            .order_by_asc(delivery_events::Column::Id)
            .all(c)
            .await?
    };
    let mut dry = Condition::any();
    if !message_ids.is_empty() {
        dry = dry.add(dry_run_log::Column::MessageId.is_in(message_ids));
    }
    let addresses: Vec<String> = [&lead.email, &lead.phone]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if !addresses.is_empty() {
        dry = dry.add(dry_run_log::Column::Recipient.is_in(addresses));
    }
    let dry_run = if dry.is_empty() {
        Vec::new()
    } else {
        dry_run_log::Entity::find()
            .filter(dry_run_log::Column::TenantId.eq(tenant_id))
            .filter(dry)
            .order_by_asc(dry_run_log::Column::RecordedAt)
            .order_by_asc(dry_run_log::Column::Id)
            .all(c)
            .await?
    };
    Ok((messages, delivery_events, dry_run))
}

/// Everything the tenant holds on lead `lead_id`; `None` when the tenant has no such
/// lead (another tenant's lead included).
pub async fn export_lead<C>(
    c: &C,
    tenant_id: Uuid,
    lead_id: Uuid,
) -> Result<Option<LeadExport>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let Some(found) = crate::get_lead_with_history(c, tenant_id, lead_id).await? else {
        return Ok(None);
    };
    let (messages, delivery_events, dry_run) = related(c, &found.lead).await?;
    let hashes = hash_list(&found.lead);
    let suppressions = if hashes.is_empty() {
        Vec::new()
    } else {
        suppressions::Entity::find()
            .filter(suppressions::Column::TenantId.eq(tenant_id))
            .filter(suppressions::Column::AddressHash.is_in(hashes))
            .order_by_asc(suppressions::Column::SuppressedAt)
            .order_by_asc(suppressions::Column::Id)
            .all(c)
            .await?
    };
    Ok(Some(LeadExport {
        lead: found.lead,
        company: found.company,
        history: found.history,
        messages,
        delivery_events,
        suppressions,
        dry_run,
    }))
}

/// `{field: "[erased]"}` for each field a history entry recorded.
fn erased_changes(changes: &serde_json::Value) -> serde_json::Value {
    match changes {
        serde_json::Value::Object(fields) => fields
            .keys()
            .map(|k| (k.clone(), serde_json::Value::String(ERASED.into())))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => serde_json::json!({}),
    }
}

/// Erases lead `lead_id`'s personal data (see the module doc), in one transaction
/// (a savepoint when `c` is already one). `None` when the tenant has no such lead.
/// Idempotent: a repeat changes nothing and answers `newly_erased: false`.
pub async fn erase_lead<C>(
    c: &C,
    tenant_id: Uuid,
    lead_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<ErasureReport>, DomainStoreError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let at = rex_store::to_db_precision(at);
    let txn = c.begin().await?;
    let Some(lead) = crate::get_lead(&txn, tenant_id, lead_id).await? else {
        txn.commit().await?;
        return Ok(None);
    };
    let mut report = ErasureReport {
        newly_erased: lead.erased_at.is_none(),
        erased_at: Some(lead.erased_at.unwrap_or(at)),
        ..ErasureReport::default()
    };
    let (messages, events, dry_run) = related(&txn, &lead).await?;

    // the ledger first: the person stays suppressed by hash, whatever else happens
    let reason = enum_text(&SuppressionReason::DoNotContact);
    for (channel, hash) in hashes(&lead) {
        let entry = suppressions::Model {
            id: Uuid::now_v7(),
            tenant_id,
            channel: enum_text(&channel),
            address: None,
            address_hash: hash.clone(),
            reason: reason.clone(),
            source_event: ERASURE_SOURCE.to_owned(),
            suppressed_at: at,
            lifted_at: None,
            created_at: rex_store::now(),
        };
        let mut insert = insert_stmt::<suppressions::Entity>(std::slice::from_ref(&entry))?;
        insert.on_conflict(
            OnConflict::columns([
                suppressions::Column::TenantId,
                suppressions::Column::Channel,
                suppressions::Column::AddressHash,
                suppressions::Column::Reason,
            ])
            .do_nothing()
            .to_owned(),
        );
        report.suppressions_added += txn.execute(&insert).await?.rows_affected();
        // an operator's earlier lift of a do-not-contact entry no longer holds
        suppressions::Entity::update_many()
            .col_expr(
                suppressions::Column::LiftedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(suppressions::Column::TenantId.eq(tenant_id))
            .filter(suppressions::Column::Channel.eq(enum_text(&channel)))
            .filter(suppressions::Column::AddressHash.eq(hash))
            .filter(suppressions::Column::Reason.eq(reason.as_str()))
            .filter(suppressions::Column::LiftedAt.is_not_null())
            .exec(&txn)
            .await?;
    }
    let hashes = hash_list(&lead);
    if !hashes.is_empty() {
        // every entry on these addresses keeps its hash only
        suppressions::Entity::update_many()
            .col_expr(
                suppressions::Column::Address,
                Expr::value(Option::<String>::None),
            )
            .filter(suppressions::Column::TenantId.eq(tenant_id))
            .filter(suppressions::Column::AddressHash.is_in(hashes))
            .filter(suppressions::Column::Address.is_not_null())
            .exec(&txn)
            .await?;
    }

    for entry in lead_history::Entity::find()
        .filter(lead_history::Column::TenantId.eq(tenant_id))
        .filter(lead_history::Column::LeadId.eq(lead_id))
        .all(&txn)
        .await?
    {
        let erased = erased_changes(&entry.changes);
        if erased != entry.changes {
            let mut active = entry.into_active_model();
            active.changes = Set(erased);
            active.update(&txn).await?;
            report.history_entries += 1;
        }
    }
    for message in messages {
        if message.receipt_detail.is_some() {
            let mut active = message.into_active_model();
            active.receipt_detail = Set(None);
            active.update(&txn).await?;
            report.messages += 1;
        }
    }
    for event in events {
        let empty = serde_json::json!({});
        if event.payload != empty {
            let mut active = event.into_active_model();
            active.payload = Set(empty);
            active.update(&txn).await?;
            report.delivery_events += 1;
        }
    }
    for entry in dry_run {
        if entry.recipient != ERASED || entry.rendered != ERASED {
            let mut active = entry.into_active_model();
            active.recipient = Set(ERASED.to_owned());
            active.rendered = Set(ERASED.to_owned());
            active.headers = Set(serde_json::json!([]));
            active.update(&txn).await?;
            report.dry_run_entries += 1;
        }
    }
    if report.newly_erased {
        let mut active = lead.into_active_model();
        active.email = Set(None);
        active.phone = Set(None);
        active.first_name = Set(None);
        active.last_name = Set(None);
        active.title = Set(None);
        active.attributes = Set(serde_json::json!({}));
        active.erased_at = Set(Some(at));
        active.updated_at = Set(at);
        active.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(Some(report))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn history_keeps_field_names_only() {
        let changes = json!({"email": {"old": null, "new": "ana@acme.io"}, "stage": {"old": "a", "new": "b"}});
        assert_eq!(
            super::erased_changes(&changes),
            json!({"email": "[erased]", "stage": "[erased]"})
        );
        // erasing twice changes nothing more
        let once = super::erased_changes(&changes);
        assert_eq!(super::erased_changes(&once), once);
    }
}
