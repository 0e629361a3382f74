//! What the retention pass reads the Stripe inbox and the idempotency records by: the time
//! an event was received, the time a record expires. Jobs and usage events are read by
//! their primary key, whose UUIDv7 ids are time-ordered, so they need no new index (and
//! their writers, the hottest in the system, pay for none).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS stripe_events_received_at_idx ON stripe_events (received_at)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS stripe_events_received_at_idx").await?;
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS idempotency_keys_expires_at_idx").await?;
        Ok(())
    }
}
