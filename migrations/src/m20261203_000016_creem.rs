//! Creem, the second card provider: the Creem products a plan sells (monthly and yearly),
//! the account's Creem customer (for its portal), and the Creem subscription a local
//! subscription mirrors. Each provider id is unique, as Stripe's are.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: [&str; 6] = [
    "ALTER TABLE plans ADD COLUMN creem_product_id text",
    "ALTER TABLE plans ADD COLUMN creem_product_id_yearly text",
    "ALTER TABLE accounts ADD COLUMN creem_customer_id text",
    "CREATE UNIQUE INDEX accounts_creem_customer_id_key ON accounts (creem_customer_id)",
    "ALTER TABLE subscriptions ADD COLUMN creem_subscription_id text",
    "CREATE UNIQUE INDEX subscriptions_creem_subscription_id_key ON subscriptions (creem_subscription_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in UP {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in [
            "DROP INDEX IF EXISTS subscriptions_creem_subscription_id_key",
            "ALTER TABLE subscriptions DROP COLUMN creem_subscription_id",
            "DROP INDEX IF EXISTS accounts_creem_customer_id_key",
            "ALTER TABLE accounts DROP COLUMN creem_customer_id",
            "ALTER TABLE plans DROP COLUMN creem_product_id_yearly",
            "ALTER TABLE plans DROP COLUMN creem_product_id",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
