//! A cursor may hold a position besides its number: where an unfinished walk through a
//! provider's event list resumes (Stripe lists newest first, so a catch-up cut short must
//! resume below the last event it read, not jump the cursor past what it never read).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE chain_cursors ADD COLUMN position text").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE chain_cursors DROP COLUMN position").await?;
        Ok(())
    }
}
