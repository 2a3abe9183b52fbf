//! `delivery_events`: provider webhook events, unique per (tenant, provider, provider
//! event id) since webhooks arrive at least once.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "delivery_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub provider: String,
    pub provider_event_id: String,
    pub message_id: Option<Uuid>,
    pub provider_message_id: Option<String>,
    /// The provider's event type (`delivered`, `bounce`, `spamreport`…).
    pub kind: String,
    pub address_hash: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
