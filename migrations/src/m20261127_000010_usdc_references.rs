//! USDC ledger transfers reference their transfer as the payment does
//! (`usdc:<chain>:<tx>:<log>`, which is also the transfer's id), not by the bare hash, so
//! reconciliation pairs each USDC payment with its credits.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("UPDATE ledger_transfers SET reference = id WHERE id LIKE 'usdc:%'")
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
