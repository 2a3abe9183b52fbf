//! Multi-row statements, split to fit the backends' bind-parameter limits.

use sea_orm::sea_query::{InsertStatement, Query};
use sea_orm::{DbBackend, DbErr, EntityTrait, Iterable, ModelTrait};

/// Bind parameters per statement. SQLite builds before 3.32 cap at 999; staying under
/// it costs nothing in-process. PostgreSQL's protocol caps at 65535.
fn max_binds(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 999,
        _ => 30_000,
    }
}

/// How many rows of `columns` binds each fit in one statement.
pub(crate) fn rows_per_statement(backend: DbBackend, columns: usize) -> usize {
    (max_binds(backend) / columns.max(1)).max(1)
}

/// How many single-value binds (an `IN (…)` list) fit in one statement.
pub(crate) fn ids_per_statement(backend: DbBackend) -> usize {
    // leave room for the other parameters of the query
    max_binds(backend) - 8
}

/// `INSERT INTO <entity> (<all columns>) VALUES (…), (…)` for whole models.
pub(crate) fn insert_models<E>(models: &[E::Model]) -> Result<InsertStatement, DbErr>
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_batches_stay_under_999_binds() {
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 10), 99);
        assert!(rows_per_statement(DbBackend::Sqlite, 10) * 10 <= 999);
        assert_eq!(rows_per_statement(DbBackend::Sqlite, 5000), 1);
    }
}
