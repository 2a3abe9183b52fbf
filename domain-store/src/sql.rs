//! Statement helpers shared by the query modules (small copies of `rex-store`'s
//! private batch helpers).

use sea_orm::sea_query::{InsertStatement, Query};
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel, Iterable, ModelTrait,
};

use crate::DomainStoreError;

/// Bind parameters per statement: SQLite builds before 3.32 cap at 999, PostgreSQL's
/// protocol at 65535 (the same limits as `rex-store`'s batches).
pub(crate) fn rows_per_statement(backend: DbBackend, columns: usize) -> usize {
    let max_binds = match backend {
        DbBackend::Sqlite => 999,
        _ => 30_000,
    };
    (max_binds / columns.max(1)).max(1)
}

/// `IN (…)` lists stay under SQLite's bind limit with room for the other parameters.
pub(crate) const IDS_PER_QUERY: usize = 900;

/// `INSERT INTO <entity> (<all columns>) VALUES (…)` for whole models; the caller adds
/// `ON CONFLICT` / `RETURNING` as needed.
pub(crate) fn insert_stmt<E>(models: &[E::Model]) -> Result<InsertStatement, DbErr>
where
    E: EntityTrait,
{
    let mut stmt = Query::insert();
    stmt.into_table(E::default()).columns(E::Column::iter());
    for model in models {
        stmt.values(E::Column::iter().map(|c| model.get(c).into()))
            .map_err(|e| DbErr::Custom(format!("building insert: {e}")))?;
    }
    Ok(stmt)
}

/// Inserts whole models in as few statements as the bind limit allows.
pub(crate) async fn insert_all<C, E>(c: &C, models: Vec<E::Model>) -> Result<(), DomainStoreError>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
{
    let per = rows_per_statement(c.get_database_backend(), E::Column::iter().count());
    for chunk in models.chunks(per) {
        c.execute(&insert_stmt::<E>(chunk)?).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_batches_stay_under_999_binds() {
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 23), 43);
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 5000), 1);
    }
}
