//! `mailboxes`: one sending identity with its warmup start, cap, health and the rolling
//! window counters its tier is computed from.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "mailboxes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub domain_id: Uuid,
    pub address: String,
    /// The mailbox's age (and so its warmup cap) counts from here.
    pub warmup_started_at: DateTimeUtc,
    /// The operator's ceiling per day; warmup and health only lower it.
    pub daily_cap: i32,
    /// `rex_domain::deliverability::HealthTier`, snake_case.
    pub health_tier: String,
    pub paused: bool,
    pub paused_reason: Option<String>,
    /// Rolling-window counters, as last reported by the deliverability agent.
    pub window_sent: i32,
    pub window_bounced: i32,
    pub window_complained: i32,
    pub health_updated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
