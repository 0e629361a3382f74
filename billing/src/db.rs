//! Database helpers the domain's transactions share.

use sea_orm::{ConnectionTrait, DatabaseBackend};

/// `q` with `FOR UPDATE` on Postgres: rows read stay locked until the caller's transaction
/// ends. SQLite runs one writer at a time and has no such clause.
pub fn for_update<S: sea_orm::QuerySelect, C: ConnectionTrait>(db: &C, q: S) -> S {
    if db.get_database_backend() == DatabaseBackend::Postgres { q.lock_exclusive() } else { q }
}
