//! Wallet bindings proven by a signature. A binding used to be any address the caller
//! typed, so every existing one is dropped (its owner proves it again); from now on an
//! address is bound to at most one account (unique), and only through a signed challenge
//! (`wallet_challenges`: the server's nonce and the exact EIP-4361 message it issued).

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
        db.execute_unprepared("UPDATE accounts SET wallet_address = NULL").await?;
        db.execute_unprepared("CREATE UNIQUE INDEX accounts_wallet_address_key ON accounts (wallet_address)").await?;
        db.execute_unprepared(&format!(
            "CREATE TABLE wallet_challenges (nonce text PRIMARY KEY, account_id {uuid} NOT NULL, address text NOT NULL, \
             message text NOT NULL, expires_at {ts} NOT NULL, used_at {ts}, created_at {ts} NOT NULL)"
        ))
        .await?;
        db.execute_unprepared("CREATE INDEX wallet_challenges_expires_at_idx ON wallet_challenges (expires_at)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS wallet_challenges").await?;
        db.execute_unprepared("DROP INDEX IF EXISTS accounts_wallet_address_key").await?;
        Ok(())
    }
}
