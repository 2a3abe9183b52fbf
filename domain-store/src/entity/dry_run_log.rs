//! `dry_run_log`: what a provider stand-in would have sent, per tenant, linked to the
//! message intent it belongs to (not a foreign key: see the migration).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dry_run_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The `messages` intent this entry belongs to, when there is one.
    pub message_id: Option<Uuid>,
    /// `sendgrid`, `twilio`…
    pub provider: String,
    /// `send_email`, `send_sms`…
    pub operation: String,
    pub recipient: String,
    /// `[[name, value], …]` in the order the request would have carried them.
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    #[sea_orm(column_type = "Text")]
    pub rendered: String,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
