//! What an API key may do when it is presented as a bearer on the subscription API
//! (`Authorization: Bearer inf_…`): space-separated scopes, `billing:read` unless the key
//! was created with more. As a gateway key (`X-API-Key`, verify) scopes do not apply.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE api_keys ADD COLUMN scopes text NOT NULL DEFAULT 'billing:read'")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("ALTER TABLE api_keys DROP COLUMN scopes").await?;
        Ok(())
    }
}
