//! The schema of the whole domain, so that later changes add behaviour rather than tables.
//!
//! The DDL lives in `initial_schema.sql` (generated with the entities from one spec); the
//! few types that differ between the backends are placeholders filled here.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const DDL: &str = include_str!("initial_schema.sql");

/// The DDL for one backend, split into single statements (SQLite's driver runs one at a time).
fn statements(backend: DatabaseBackend) -> Vec<String> {
    let (uuid, ts, json) = match backend {
        DatabaseBackend::Postgres => ("uuid", "timestamptz", "jsonb"),
        // sqlx stores a Uuid as a 16-byte blob on SQLite, timestamps and JSON as text.
        _ => ("blob", "text", "text"),
    };
    DDL.lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{uuid}", uuid)
        .replace("{ts}", ts)
        .replace("{json}", json)
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Table names in creation order, for `down`.
fn tables() -> Vec<&'static str> {
    DDL.lines().filter_map(|l| l.strip_prefix("CREATE TABLE ")).filter_map(|l| l.split_whitespace().next()).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for stmt in statements(manager.get_database_backend()) {
            db.execute_unprepared(&stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in tables().into_iter().rev() {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}")).await?;
        }
        Ok(())
    }
}
