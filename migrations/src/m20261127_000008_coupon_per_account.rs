//! A per-account redemption limit on coupons (`max_per_account`; NULL: no limit). Existing
//! coupons get one redemption per account, the limit new ones have by default, as Stripe's
//! "once per customer".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE coupons ADD COLUMN max_per_account integer").await?;
        db.execute_unprepared("UPDATE coupons SET max_per_account = 1").await?;
        db.execute_unprepared(
            "CREATE INDEX coupon_redemptions_coupon_id_account_id_idx ON coupon_redemptions (coupon_id, account_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS coupon_redemptions_coupon_id_account_id_idx").await?;
        db.execute_unprepared("ALTER TABLE coupons DROP COLUMN max_per_account").await?;
        Ok(())
    }
}
