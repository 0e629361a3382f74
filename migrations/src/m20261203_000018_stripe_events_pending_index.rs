//! The Stripe inbox's events still to apply, by arrival: what a batch of paid top-ups
//! gathers (`billing::stripe::topups`). Through the index on `received_at` alone, each
//! batch walked past every event already processed before reaching the waiting ones, so a
//! backlog cost its batches more the further it drained. This one holds only what waits.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS stripe_events_pending_idx ON stripe_events (received_at) \
                 WHERE status = 'received'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS stripe_events_pending_idx").await?;
        Ok(())
    }
}
