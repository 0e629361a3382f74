//! When a subscription's trial ends (`trial_end` of the subscription API), mirrored from the provider.

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
            .execute_unprepared(&format!("ALTER TABLE subscriptions ADD COLUMN trial_end {ts}"))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE subscriptions DROP COLUMN trial_end").await?;
        Ok(())
    }
}
