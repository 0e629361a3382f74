//! Database helpers the domain's transactions share.

use sea_orm::{ConnectionTrait, DatabaseBackend};

/// `q` with `FOR UPDATE` on Postgres: rows read stay locked until the caller's transaction
/// ends. SQLite runs one writer at a time and has no such clause.
pub fn for_update<S: sea_orm::QuerySelect, C: ConnectionTrait>(db: &C, q: S) -> S {
    if db.get_database_backend() == DatabaseBackend::Postgres { q.lock_exclusive() } else { q }
}

/// `col IN values`; on Postgres `col = ANY($n)` with the values bound as one array. `IN`
/// gives each length of list its own statement text, so a batch of a new size is parsed
/// and planned again (1–2 ms for a long list, on every batch whose size differs) and
/// pushes other statements out of the connection's cache; one array keeps one text,
/// prepared once per connection, for every batch.
pub fn one_of<Col, V>(backend: DatabaseBackend, col: Col, values: Vec<V>) -> sea_orm::sea_query::Expr
where
    Col: sea_orm::ColumnTrait,
    V: Into<sea_orm::Value> + sea_orm::sea_query::value::postgres_array::NotU8 + sea_orm::sea_query::ValueType,
{
    use sea_orm::sea_query::{Expr, ExprTrait, extension::postgres::PgFunc};
    if backend == DatabaseBackend::Postgres {
        Expr::col(col.as_column_ref()).eq(PgFunc::any(Expr::val(sea_orm::Value::from(values))))
    } else {
        col.is_in(values)
    }
}

/// A transaction that writes. On SQLite it takes the write lock at its start (`BEGIN
/// IMMEDIATE`), queueing behind other writers for the busy timeout: a deferred transaction
/// that reads and then writes fails at once with "database is locked" when another
/// process (the worker, polling its outbox) committed in between, since SQLite cannot let
/// it wait there without risking a deadlock. Postgres begins as usual.
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, sea_orm::DbErr>
where
    C: sea_orm::TransactionTrait + ConnectionTrait,
{
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        let immediate = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        db.begin_with_options(immediate).await
    } else {
        db.begin().await
    }
}
