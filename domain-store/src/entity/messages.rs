//! `messages`: one per (lead, campaign, step): the intent written before the provider is
//! called, completed by the receipt after. Unique on `(tenant_id, lead_id, campaign_id,
//! step_key)`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub campaign_id: Uuid,
    pub step_key: String,
    /// `rex_domain::Channel`, snake_case.
    pub channel: String,
    pub mailbox_id: Option<Uuid>,
    pub variant_id: Option<Uuid>,
    /// Hash of the rendered message, to tell a reconciled send from a different one.
    pub body_hash: String,
    pub intended_at: DateTimeUtc,
    pub provider_message_id: Option<String>,
    /// [`crate::ReceiptStatus`], snake_case; null while only the intent exists.
    pub receipt_status: Option<String>,
    pub receipt_detail: Option<String>,
    pub receipt_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
