//! A partial index over the jobs that are not done, so what reads queue depth and age
//! (every `/metrics` scrape, `GET /admin/queues`) touches only the live backlog, never the
//! history of finished jobs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS jobs_unfinished_idx ON jobs (queue, status, created_at) \
                 WHERE status <> 'done'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS jobs_unfinished_idx").await?;
        Ok(())
    }
}
