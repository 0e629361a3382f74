//! Usage batches: what the api accepted from the gateway, kept until a metering job has
//! counted it. The api answers 202 only once the batch row and its job row are committed,
//! so a batch survives Redis or a worker going away.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let pg = manager.get_database_backend() == DatabaseBackend::Postgres;
        let (ts, uuid) = if pg { ("timestamptz", "uuid") } else { ("text", "text") };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE TABLE usage_batches (id {uuid} PRIMARY KEY, events text NOT NULL, \
                 event_count integer NOT NULL, created_at {ts} NOT NULL)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP TABLE IF EXISTS usage_batches").await?;
        Ok(())
    }
}
