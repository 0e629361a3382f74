//! What a payment bought, so that reversing it (a refund, a lost dispute) ends exactly that:
//! the order that bought a 30-day plan, on its subscription; the Stripe subscription an
//! invoice payment paid for, on the payment. And `applied_effects`: a key per reversal
//! effect, inserted with it, so an effect that moved nothing (a balance already at zero)
//! is still applied only once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let pg = manager.get_database_backend() == DatabaseBackend::Postgres;
        let (uuid, ts) = if pg { ("uuid", "timestamptz") } else { ("text", "text") };
        let db = manager.get_connection();
        db.execute_unprepared(&format!("ALTER TABLE subscriptions ADD COLUMN order_id {uuid}")).await?;
        db.execute_unprepared("CREATE INDEX subscriptions_order_id_idx ON subscriptions (order_id)").await?;
        db.execute_unprepared("ALTER TABLE payments ADD COLUMN subscription_ref text").await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE applied_effects (key text PRIMARY KEY, created_at {ts} NOT NULL)"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS applied_effects").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS subscriptions_order_id_idx").await?;
        db.execute_unprepared("ALTER TABLE subscriptions DROP COLUMN order_id").await?;
        db.execute_unprepared("ALTER TABLE payments DROP COLUMN subscription_ref").await?;
        Ok(())
    }
}
