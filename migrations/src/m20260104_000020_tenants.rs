//! Tenants: the customers of Rex. Every domain table (leads, mailboxes, messages, the
//! suppression ledger…) carries a `tenant_id` that references this table, so one
//! tenant's rows can never be read or written through another's.
//!
//! This file also holds the helpers the domain migrations (000021–000025) share:
//! a reference to another domain row is a composite foreign key
//! `(tenant_id, x_id) → x (tenant_id, id)`, backed by a unique index on
//! `x (tenant_id, id)`, so the database itself refuses a message of tenant A that
//! points at a lead of tenant B.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

/// `tenant_id → tenants (id)`; a tenant with rows cannot be deleted.
pub(crate) fn tenant_fk(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_tenant"))
        .from(table, "tenant_id")
        .to("tenants", "id")
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

/// `(tenant_id, column) → to (tenant_id, id)`: the referenced row belongs to the same
/// tenant. A null `column` is not checked (SQL's MATCH SIMPLE).
pub(crate) fn scoped_fk(
    table: &'static str,
    column: &'static str,
    to: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(table, ("tenant_id", column))
        .to(to, ("tenant_id", "id"))
        .on_delete(on_delete)
        .to_owned()
}

/// An index `<prefix>_<table>_<columns>` on `table`, unique or not.
pub(crate) fn index(
    table: &'static str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let prefix = if unique { "ux" } else { "ix" };
    let mut stmt = Index::create();
    stmt.name(format!("{prefix}_{table}_{}", columns.join("_")))
        .table(table)
        .if_not_exists();
    for column in columns {
        stmt.col(*column);
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}

/// The unique `(tenant_id, id)` that tenant-scoped foreign keys reference.
pub(crate) fn tenant_key(table: &'static str) -> IndexCreateStatement {
    index(table, &["tenant_id", "id"], true)
}

/// Creates the indexes in order.
pub(crate) async fn create_indexes(
    manager: &SchemaManager<'_>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

/// Drops the tables in order (children first).
pub(crate) async fn drop_tables(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager
            .drop_table(Table::drop().table(*table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .if_not_exists()
                    .col(uuid(Tenants::Id).primary_key())
                    .col(string(Tenants::Slug))
                    .col(string(Tenants::Name))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("tenants", &["slug"], true))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["tenants"]).await
    }
}
