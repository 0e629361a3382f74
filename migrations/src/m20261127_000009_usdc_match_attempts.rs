//! How often the chain scan has tried to match an unmatched transfer. The scan tries the
//! newest few times and then leaves it to admins, so a flood of transfers nobody expects
//! (dust sent to the payment address) cannot keep a real payment from being matched.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE usdc_transfers ADD COLUMN match_attempts integer NOT NULL DEFAULT 0")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX usdc_transfers_unmatched_idx ON usdc_transfers (chain_id, block_number) \
             WHERE status = 'unmatched'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS usdc_transfers_unmatched_idx").await?;
        db.execute_unprepared("ALTER TABLE usdc_transfers DROP COLUMN match_attempts").await?;
        Ok(())
    }
}
