//! The suppression ledger: recorded idempotently, checked before every send, joined to
//! leads so that every suppressed lead's missions can be ended.
//!
//! Entries are looked up by [`address_hash`] only, never by the clear-text address, so
//! an erased entry (address blanked, hash kept) still suppresses.

use chrono::{DateTime, Utc};
use rex_domain::Channel;
use rex_domain::outreach::{SuppressionEntry, SuppressionReason};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IntoActiveModel,
    Iterable, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::{address_hash, enum_text, stored_enum};
use crate::entity::leads;
use crate::entity::suppressions::{self, Column, Entity};
use crate::sql::insert_stmt;

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSuppression {
    pub tenant_id: Uuid,
    pub channel: Channel,
    /// An email address or a phone number, in any case or punctuation.
    pub address: String,
    pub reason: SuppressionReason,
    /// The event that caused it (webhook event id, reply id, operator action…).
    pub source_event: String,
    /// Suppressed from this instant on.
    pub at: DateTime<Utc>,
}

/// What [`suppress`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Suppressed {
    /// A new entry.
    New(suppressions::Model),
    /// The (tenant, channel, address, reason) was already on the ledger: unchanged,
    /// except that an earlier `at` moves the entry's start back (events can arrive out
    /// of order; the first one is when the person asked).
    Existing(suppressions::Model),
    /// The entry had been lifted before `at`: it holds again from `at`.
    Reinstated(suppressions::Model),
}

impl Suppressed {
    pub fn entry(&self) -> &suppressions::Model {
        match self {
            Suppressed::New(m) | Suppressed::Existing(m) | Suppressed::Reinstated(m) => m,
        }
    }
}

/// A lead whose email or phone is on the ledger, with the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuppressedLead {
    pub lead_id: Uuid,
    pub suppression: suppressions::Model,
}

impl suppressions::Model {
    pub fn channel(&self) -> Result<Channel, DomainStoreError> {
        stored_enum("suppressions", "channel", &self.channel)
    }

    pub fn reason(&self) -> Result<SuppressionReason, DomainStoreError> {
        stored_enum("suppressions", "reason", &self.reason)
    }

    /// Whether the entry suppresses at `at`: from its time on, until lifted.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.suppressed_at <= at && self.lifted_at.is_none_or(|lifted| lifted > at)
    }

    /// The entry as `rex-domain`'s gate reads it. The address is the hash when the
    /// clear text was erased.
    pub fn to_entry(&self) -> Result<SuppressionEntry, DomainStoreError> {
        Ok(SuppressionEntry {
            address: self
                .address
                .clone()
                .unwrap_or_else(|| self.address_hash.clone()),
            reason: self.reason()?,
            source_event: self.source_event.clone(),
            at: self.suppressed_at,
            lifted_at: self.lifted_at,
        })
    }
}

/// Records an entry once per (tenant, channel, address, reason): safe to call for every
/// copy of a webhook. See [`Suppressed`] for what a repeat does.
pub async fn suppress<C>(c: &C, new: &NewSuppression) -> Result<Suppressed, DomainStoreError>
where
    C: ConnectionTrait,
{
    let address = rex_domain::outreach::normalize_address(&new.address);
    if address.is_empty() {
        return Err(DomainStoreError::Invalid {
            name: "suppressed address",
            why: format!("{:?} is empty once normalized", new.address),
        });
    }
    let at = rex_store::to_db_precision(new.at);
    let model = suppressions::Model {
        id: Uuid::now_v7(),
        tenant_id: new.tenant_id,
        channel: enum_text(&new.channel),
        address_hash: address_hash(&address),
        address: Some(address),
        reason: enum_text(&new.reason),
        source_event: new.source_event.clone(),
        suppressed_at: at,
        lifted_at: None,
        created_at: rex_store::now(),
    };
    let mut insert = insert_stmt::<Entity>(std::slice::from_ref(&model))?;
    insert.on_conflict(
        OnConflict::columns([
            Column::TenantId,
            Column::Channel,
            Column::AddressHash,
            Column::Reason,
        ])
        .do_nothing()
        .to_owned(),
    );
    if c.execute(&insert).await?.rows_affected() == 1 {
        return Ok(Suppressed::New(model));
    }
    let existing = Entity::find()
        .filter(Column::TenantId.eq(new.tenant_id))
        .filter(Column::Channel.eq(model.channel.as_str()))
        .filter(Column::AddressHash.eq(model.address_hash.as_str()))
        .filter(Column::Reason.eq(model.reason.as_str()))
        .one(c)
        .await?
        .ok_or_else(|| DomainStoreError::not_found("suppression", &model.address_hash))?;
    let reinstate = existing.lifted_at.is_some_and(|lifted| lifted <= at);
    let earlier = existing.suppressed_at > at;
    if !reinstate && !earlier {
        return Ok(Suppressed::Existing(existing));
    }
    let mut active = existing.into_active_model();
    active.suppressed_at = Set(at);
    active.source_event = Set(new.source_event.clone());
    if reinstate {
        active.lifted_at = Set(None);
    }
    let updated = active.update(c).await?;
    Ok(if reinstate {
        Suppressed::Reinstated(updated)
    } else {
        Suppressed::Existing(updated)
    })
}

fn active_at(at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(Expr::col((Entity, Column::SuppressedAt)).lte(at))
        .add(
            Condition::any()
                .add(Expr::col((Entity, Column::LiftedAt)).is_null())
                .add(Expr::col((Entity, Column::LiftedAt)).gt(at)),
        )
}

/// The entry that suppresses `address` on `channel` at `at` (the earliest if several
/// reasons apply), or `None`: an entry counts only from its own time on.
pub async fn is_suppressed<C>(
    c: &C,
    tenant_id: Uuid,
    channel: Channel,
    address: &str,
    at: DateTime<Utc>,
) -> Result<Option<suppressions::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Channel.eq(enum_text(&channel)))
        .filter(Column::AddressHash.eq(address_hash(address)))
        .filter(active_at(rex_store::to_db_precision(at)))
        .order_by_asc(Column::SuppressedAt)
        .order_by_asc(Column::Id)
        .one(c)
        .await?)
}

/// Lifts an entry from `at` on (an operator decided a bounce was a mistake). `false`
/// if the tenant has no such entry.
pub async fn lift_suppression<C>(
    c: &C,
    tenant_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    let lifted = Entity::update_many()
        .col_expr(
            Column::LiftedAt,
            Expr::value(rex_store::to_db_precision(at)),
        )
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Id.eq(id))
        .exec(c)
        .await?
        .rows_affected;
    Ok(lifted == 1)
}

/// The leads of the tenant whose email (email channel) or phone (SMS channel) carries
/// an entry active at `at`, optionally only entries that started at or after `since`
/// (the sweep that ends missions runs incrementally). Ordered by entry time, then lead.
pub async fn suppressed_leads<C>(
    c: &C,
    tenant_id: Uuid,
    since: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<Vec<SuppressedLead>, DomainStoreError>
where
    C: ConnectionTrait,
{
    suppressed_lead_rows(c, tenant_id, None, since, at).await
}

/// The active entries on one lead's addresses.
pub async fn lead_suppressions<C>(
    c: &C,
    tenant_id: Uuid,
    lead_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<suppressions::Model>, DomainStoreError>
where
    C: ConnectionTrait,
{
    Ok(suppressed_lead_rows(c, tenant_id, Some(lead_id), None, at)
        .await?
        .into_iter()
        .map(|row| row.suppression)
        .collect())
}

async fn suppressed_lead_rows<C>(
    c: &C,
    tenant_id: Uuid,
    lead_id: Option<Uuid>,
    since: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<Vec<SuppressedLead>, DomainStoreError>
where
    C: ConnectionTrait,
{
    let at = rex_store::to_db_precision(at);
    let matches_address = |channel: Channel, lead_column: leads::Column| {
        Condition::all()
            .add(Expr::col((Entity, Column::Channel)).eq(enum_text(&channel)))
            .add(Expr::col((leads::Entity, lead_column)).equals((Entity, Column::AddressHash)))
    };
    let join = Condition::all()
        .add(Expr::col((leads::Entity, leads::Column::TenantId)).equals((Entity, Column::TenantId)))
        .add(
            Condition::any()
                .add(matches_address(Channel::Email, leads::Column::EmailHash))
                .add(matches_address(Channel::Sms, leads::Column::PhoneHash)),
        );
    let mut filter = Condition::all()
        .add(Expr::col((Entity, Column::TenantId)).eq(tenant_id))
        .add(active_at(at));
    if let Some(lead_id) = lead_id {
        filter = filter.add(Expr::col((leads::Entity, leads::Column::Id)).eq(lead_id));
    }
    if let Some(since) = since {
        filter = filter
            .add(Expr::col((Entity, Column::SuppressedAt)).gte(rex_store::to_db_precision(since)));
    }
    let mut query = Query::select();
    query
        .expr_as(Expr::col((leads::Entity, leads::Column::Id)), "lead_id")
        .columns(Column::iter().map(|column| (Entity, column)))
        .from(Entity)
        .inner_join(leads::Entity, join)
        .cond_where(filter)
        .order_by((Entity, Column::SuppressedAt), sea_orm::Order::Asc)
        .order_by((leads::Entity, leads::Column::Id), sea_orm::Order::Asc)
        .order_by((Entity, Column::Id), sea_orm::Order::Asc);
    let mut out = Vec::new();
    for row in c.query_all(&query).await? {
        out.push(SuppressedLead {
            lead_id: row.try_get("", "lead_id")?,
            suppression: suppressions::Model::from_query_result(&row, "")?,
        });
    }
    Ok(out)
}
