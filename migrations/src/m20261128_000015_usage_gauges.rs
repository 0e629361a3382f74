//! Gauges: the last value the gateway reported of an account's current-level resource
//! (`concurrent_tasks`, `team_seats`), which plan limits of that resource are checked
//! against instead of a monthly sum. One row per account and metric; a reading replaces it
//! only when it was taken later (`observed_at`, then `event_id` to break ties), so readings
//! delivered twice or out of order leave the latest.

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
                "CREATE TABLE usage_gauges (account_id {uuid} NOT NULL, metric text NOT NULL, \
                 value bigint NOT NULL, observed_at {ts} NOT NULL, event_id text NOT NULL, \
                 updated_at {ts} NOT NULL, PRIMARY KEY (account_id, metric))"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP TABLE IF EXISTS usage_gauges").await?;
        Ok(())
    }
}
