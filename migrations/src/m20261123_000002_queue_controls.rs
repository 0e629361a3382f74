//! Queue controls: an operator can pause a queue (its jobs wait in the outbox) and resume it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = if manager.get_database_backend() == DatabaseBackend::Postgres { "timestamptz" } else { "text" };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE TABLE queue_controls (queue varchar(32) PRIMARY KEY, paused boolean NOT NULL, updated_at {ts} NOT NULL)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP TABLE IF EXISTS queue_controls").await?;
        Ok(())
    }
}
