//! Send budgets shared by every worker process: a counter row per (mailbox, day) and
//! per (tenant, channel, hour), taken by ONE atomic statement
//!
//! ```sql
//! INSERT INTO mailbox_usage (…, sent) VALUES (…, 1)
//! ON CONFLICT (mailbox_id, day) DO UPDATE SET sent = mailbox_usage.sent + 1
//!   WHERE mailbox_usage.sent < $cap AND mailbox_usage.tenant_id = $tenant
//! RETURNING sent
//! ```
//!
//! A row comes back only if a slot was taken. PostgreSQL locks the conflicting row and
//! re-checks the `WHERE` on its latest version, SQLite has one writer at a time, so no
//! interleaving of workers exceeds the cap. A slot taken for a send that then did not
//! happen is given back with `release_*`.

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use rex_domain::Channel;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::DomainStoreError;
use crate::codec::enum_text;
use crate::entity::{channel_usage, mailbox_usage};

/// The start of the hour `at` falls in: the key of the per-channel budget.
pub fn hour_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

fn cap_i32(cap: u32) -> i32 {
    i32::try_from(cap).unwrap_or(i32::MAX)
}

/// Takes one of `cap` sends of `mailbox_id` on `day`: `true` if this send may go.
/// Holds across all processes (one atomic upsert). A mailbox of another tenant never
/// gets a slot (the insert is refused by the foreign key, the update by its `WHERE`).
pub async fn take_mailbox_slot<C>(
    c: &C,
    tenant_id: Uuid,
    mailbox_id: Uuid,
    day: NaiveDate,
    cap: u32,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    use mailbox_usage::{Column, Entity};
    if cap == 0 {
        return Ok(false);
    }
    let mut stmt = Query::insert();
    stmt.into_table(Entity)
        .columns([
            Column::TenantId,
            Column::MailboxId,
            Column::Day,
            Column::Sent,
        ])
        .values([tenant_id.into(), mailbox_id.into(), day.into(), 1i32.into()])
        .map_err(|e| DomainStoreError::from(sea_orm::DbErr::Custom(e.to_string())))?
        .on_conflict(
            OnConflict::columns([Column::MailboxId, Column::Day])
                .value(Column::Sent, Expr::col((Entity, Column::Sent)).add(1))
                .action_and_where(
                    Expr::col((Entity, Column::Sent))
                        .lt(cap_i32(cap))
                        .and(Expr::col((Entity, Column::TenantId)).eq(tenant_id)),
                )
                .to_owned(),
        )
        .returning_col(Column::Sent);
    Ok(c.query_one(&stmt).await?.is_some())
}

/// Gives back a slot of [`take_mailbox_slot`] for a send that did not happen. `false`
/// if there was none to give back.
pub async fn release_mailbox_slot<C>(
    c: &C,
    tenant_id: Uuid,
    mailbox_id: Uuid,
    day: NaiveDate,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    use mailbox_usage::{Column, Entity};
    let released = Entity::update_many()
        .col_expr(Column::Sent, Expr::col(Column::Sent).sub(1))
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::MailboxId.eq(mailbox_id))
        .filter(Column::Day.eq(day))
        .filter(Column::Sent.gt(0))
        .exec(c)
        .await?
        .rows_affected;
    Ok(released == 1)
}

/// Slots of `mailbox_id` taken on `day`.
pub async fn mailbox_sent_on<C>(
    c: &C,
    tenant_id: Uuid,
    mailbox_id: Uuid,
    day: NaiveDate,
) -> Result<u32, DomainStoreError>
where
    C: ConnectionTrait,
{
    use mailbox_usage::{Column, Entity};
    let row = Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::MailboxId.eq(mailbox_id))
        .filter(Column::Day.eq(day))
        .one(c)
        .await?;
    Ok(row.map_or(0, |r| u32::try_from(r.sent).unwrap_or(0)))
}

/// Takes one of `cap` sends of the tenant on `channel` in the hour of `at`.
pub async fn take_channel_slot<C>(
    c: &C,
    tenant_id: Uuid,
    channel: Channel,
    at: DateTime<Utc>,
    cap: u32,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    use channel_usage::{Column, Entity};
    if cap == 0 {
        return Ok(false);
    }
    let mut stmt = Query::insert();
    stmt.into_table(Entity)
        .columns([
            Column::TenantId,
            Column::Channel,
            Column::WindowStart,
            Column::Sent,
        ])
        .values([
            tenant_id.into(),
            enum_text(&channel).into(),
            hour_start(at).into(),
            1i32.into(),
        ])
        .map_err(|e| DomainStoreError::from(sea_orm::DbErr::Custom(e.to_string())))?
        .on_conflict(
            OnConflict::columns([Column::TenantId, Column::Channel, Column::WindowStart])
                .value(Column::Sent, Expr::col((Entity, Column::Sent)).add(1))
                .action_and_where(Expr::col((Entity, Column::Sent)).lt(cap_i32(cap)))
                .to_owned(),
        )
        .returning_col(Column::Sent);
    Ok(c.query_one(&stmt).await?.is_some())
}

/// Gives back a slot of [`take_channel_slot`].
pub async fn release_channel_slot<C>(
    c: &C,
    tenant_id: Uuid,
    channel: Channel,
    at: DateTime<Utc>,
) -> Result<bool, DomainStoreError>
where
    C: ConnectionTrait,
{
    use channel_usage::{Column, Entity};
    let released = Entity::update_many()
        .col_expr(Column::Sent, Expr::col(Column::Sent).sub(1))
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Channel.eq(enum_text(&channel)))
        .filter(Column::WindowStart.eq(hour_start(at)))
        .filter(Column::Sent.gt(0))
        .exec(c)
        .await?
        .rows_affected;
    Ok(released == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hour_window_starts_on_the_hour() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T09:59:59.999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(hour_start(at).to_rfc3339(), "2026-03-01T09:00:00+00:00");
    }
}
