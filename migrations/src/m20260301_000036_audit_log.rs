//! `audit_log`: who did what to a tenant's secrets, keys and personal data — a secret
//! set, deleted or rotated, a lead exported or erased, an API key created or revoked.
//!
//! `actor` is the API key id (as text) or `cli`; `target` names the object (a secret's
//! name, a lead's id, a key's id); `details` is JSON without personal data nor secret
//! values. Rows are only ever inserted. Listed newest first by `(tenant_id, id)` (ids
//! are UUIDv7, so time-ordered).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20260104_000020_tenants::{index, tenant_fk};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    Actor,
    Action,
    Target,
    At,
    RequestId,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(uuid(AuditLog::Id).primary_key())
                    .col(uuid(AuditLog::TenantId))
                    .col(string(AuditLog::Actor))
                    .col(string(AuditLog::Action))
                    .col(string(AuditLog::Target))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string_null(AuditLog::RequestId))
                    .col(json_binary(AuditLog::Details))
                    .foreign_key(&mut tenant_fk("audit_log"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("audit_log", &["tenant_id", "id"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).if_exists().to_owned())
            .await
    }
}
