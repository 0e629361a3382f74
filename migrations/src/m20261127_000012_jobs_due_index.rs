//! The index workers claim from: unfinished jobs by queue and due time, so a batch claim
//! (`ORDER BY available_at LIMIT n`) reads its rows in order off the index, never scanning
//! or sorting the backlog, however deep it is. It replaces the index by (queue, status,
//! available_at), which only the retired relay read: every index is written again when a
//! job is claimed, so one fewer is a cheaper claim.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS jobs_due_idx ON jobs (queue, available_at) \
                 WHERE status IN ('pending', 'dispatched', 'running')",
            )
            .await?;
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS jobs_queue_status_available_at_idx").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS jobs_queue_status_available_at_idx ON jobs (queue, status, available_at)",
            )
            .await?;
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS jobs_due_idx").await?;
        Ok(())
    }
}
