//! Reconciliation and replay: a message already on record answers a redelivery and is
//! never sent twice (see the parent module's "Reconciliation").

use rex_domain_store::entity::mailboxes;
use rex_domain_store::{DryRunFilter, NewDryRun, list_dry_run, record_dry_run};

use super::*;

impl Outreach {
    /// The answer for a message already on record.
    pub(super) async fn replay(
        &self,
        tenant: Uuid,
        message: messages::Model,
        out: &Out,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<Value, StepError> {
        let receipt = message
            .receipt()
            .map_err(|e| store_error("message receipt", &e))?;
        let receipt = match receipt {
            Some(r) => r,
            None => self.reconcile(tenant, &message, out, mode, now).await?,
        };
        let mailbox = match message.mailbox_id {
            Some(id) => mailboxes::Entity::find_by_id(id)
                .filter(mailboxes::Column::TenantId.eq(tenant))
                .one(self.store.conn())
                .await
                .map_err(|e| store_error("mailbox", &e.into()))?
                .map(|m| m.address),
            None => None,
        };
        let detail = receipt.detail.clone().unwrap_or_default();
        let mut answer = match receipt.status {
            ReceiptStatus::Sent => {
                let reason = detail
                    .starts_with("outcome_unknown")
                    .then(|| "outcome_unknown".to_owned());
                out.json(
                    "sent",
                    reason,
                    Some(message.id),
                    mailbox.as_deref(),
                    receipt.provider_message_id.as_deref(),
                )
            }
            ReceiptStatus::NotSent => out.skipped("not_sent"),
            ReceiptStatus::Rejected => match detail.split_once(':').map(|(r, _)| r) {
                Some(r @ ("hard_bounce" | "sms_stop")) => {
                    out.json("suppressed", Some(r.to_owned()), None, None, None)
                }
                _ => {
                    return Err(StepError::permanent(format!(
                        "{}: {detail}",
                        out.message_id
                    )));
                }
            },
        };
        answer["replayed"] = Value::Bool(true);
        Ok(answer)
    }

    /// Settles an intent without a receipt, without sending (module docs).
    pub(super) async fn reconcile(
        &self,
        tenant: Uuid,
        message: &messages::Model,
        out: &Out,
        mode: Mode,
        now: DateTime<Utc>,
    ) -> Result<Receipt, StepError> {
        if now - message.intended_at < RECONCILE_GRACE {
            return Err(StepError::retryable(format!(
                "{}: an earlier attempt may still be sending; reconciling after {} minutes",
                out.message_id,
                RECONCILE_GRACE.num_minutes()
            )));
        }
        let receipt = match mode {
            Mode::DryRun => {
                let filter = DryRunFilter {
                    message_id: Some(message.id),
                    limit: 1,
                    ..DryRunFilter::default()
                };
                let found = list_dry_run(self.store.conn(), tenant, &filter)
                    .await
                    .map_err(|e| store_error("dry-run log", &e))?;
                match found.first() {
                    Some(e) => Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::Sent,
                        detail: Some(format!("dry_run {} (reconciled)", e.id)),
                        at: now,
                    },
                    None => Receipt {
                        provider_message_id: None,
                        status: ReceiptStatus::NotSent,
                        detail: Some("reconciled: not in the dry-run log".into()),
                        at: now,
                    },
                }
            }
            Mode::Live => Receipt {
                provider_message_id: None,
                status: ReceiptStatus::Sent,
                detail: Some("outcome_unknown: intent without receipt, not resent".into()),
                at: now,
            },
        };
        tracing::warn!(intent = %message.id, status = ?receipt.status, "reconciled an intent without a receipt");
        record_receipt(self.store.conn(), tenant, message.id, &receipt)
            .await
            .map_err(|e| store_error("message receipt", &e))
    }

    /// Copies the stand-in's entry `entry` to the tenant's persisted dry-run log, linked
    /// to the intent; `None` when the in-memory log no longer holds it (logged).
    pub(super) async fn persist_dry_run(
        &self,
        tenant: Uuid,
        intent_id: Uuid,
        entry: u64,
        now: DateTime<Utc>,
    ) -> Result<Option<Uuid>, StepError> {
        let Some(e) = self.dry_run.get(entry) else {
            tracing::warn!(entry, intent = %intent_id, "dry-run entry gone from the in-memory log");
            return Ok(None);
        };
        let row = NewDryRun {
            message_id: Some(intent_id),
            provider: e.provider.as_str().to_owned(),
            operation: e.operation.to_owned(),
            recipient: e.recipient,
            headers: e.headers,
            rendered: e.rendered,
            at: now,
        };
        let stored = record_dry_run(self.store.conn(), tenant, &row)
            .await
            .map_err(|e| store_error("dry-run log", &e))?;
        Ok(Some(stored.id))
    }
}

pub(super) fn dry_entry(delivery: &rex_adapters::Delivery) -> Option<u64> {
    match delivery {
        rex_adapters::Delivery::DryRun { entry } => Some(*entry),
        rex_adapters::Delivery::Sent => None,
    }
}

/// The message of (lead, campaign, message id), if any.
pub(super) async fn find_message(
    store: &Store,
    tenant: Uuid,
    lead: Uuid,
    campaign: Uuid,
    message_id: &str,
) -> Result<Option<messages::Model>, StepError> {
    messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::LeadId.eq(lead))
        .filter(messages::Column::CampaignId.eq(campaign))
        .filter(messages::Column::StepKey.eq(message_id))
        .one(store.conn())
        .await
        .map_err(|e| store_error("message", &e.into()))
}

/// Whether Rex already sent this lead something on this channel (Art. 14 notice and
/// the SMS opt-out line go on the first message only).
pub(super) async fn has_sent_before(
    store: &Store,
    tenant: Uuid,
    lead: Uuid,
    channel: Channel,
) -> Result<bool, StepError> {
    let found = messages::Entity::find()
        .filter(messages::Column::TenantId.eq(tenant))
        .filter(messages::Column::LeadId.eq(lead))
        .filter(messages::Column::Channel.eq(enum_text(&channel)))
        .filter(messages::Column::ReceiptStatus.eq(enum_text(&ReceiptStatus::Sent)))
        .one(store.conn())
        .await
        .map_err(|e| store_error("messages", &e.into()))?;
    Ok(found.is_some())
}
