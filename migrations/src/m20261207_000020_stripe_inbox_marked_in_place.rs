//! The Stripe inbox marks an event applied in place. Marking an event `processed` changed
//! `status`, the predicate of `stripe_events_pending_idx`, so every mark wrote a whole new
//! row version, payload and all (about 1.2 kB of WAL an event), elsewhere in the table,
//! with a new entry in each of its indexes. Now no index names a column a mark changes
//! (`status`, `processed_at`, `last_error`): the waiting events a top-up batch gathers are
//! found through their waiting jobs instead (`jobs_open_idx`, each job keyed by its event),
//! and the table leaves half of each page free (fillfactor 50), room for the new versions
//! of every event on a page (a batch marks a page's events together). Postgres then makes
//! the mark a heap-only update on the same page, whose WAL record leaves out the unchanged
//! payload.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS stripe_events_pending_idx").await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            // Applies to pages written from now on; existing pages keep what they hold.
            db.execute_unprepared("ALTER TABLE stripe_events SET (fillfactor = 50)").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("ALTER TABLE stripe_events RESET (fillfactor)").await?;
        }
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS stripe_events_pending_idx ON stripe_events (received_at) \
             WHERE status = 'received'",
        )
        .await?;
        Ok(())
    }
}
