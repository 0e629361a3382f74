//! Webhooks out to the customer's own app: the endpoints an account registers (its signing
//! secret sealed, never in clear), the events emitted to it (one per business fact, unique by
//! `fact_key`, the signed body fixed at emission), and every delivery attempt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let pg = manager.get_database_backend() == DatabaseBackend::Postgres;
        let (ts, uuid) = if pg { ("timestamptz", "uuid") } else { ("text", "text") };
        for sql in [
            format!(
                "CREATE TABLE webhook_endpoints (id {uuid} PRIMARY KEY, account_id {uuid} NOT NULL, url text NOT NULL, \
                 description text NOT NULL, event_types text NOT NULL, secret_sealed text NOT NULL, \
                 status text NOT NULL, disabled_reason text, failing_since {ts}, created_at {ts} NOT NULL, \
                 updated_at {ts} NOT NULL)"
            ),
            "CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id)".to_owned(),
            format!(
                "CREATE TABLE webhook_events (id text PRIMARY KEY, account_id {uuid} NOT NULL, event_type text NOT NULL, \
                 fact_key text NOT NULL, payload text NOT NULL, created_at {ts} NOT NULL)"
            ),
            "CREATE UNIQUE INDEX webhook_events_fact_key ON webhook_events (fact_key)".to_owned(),
            "CREATE INDEX webhook_events_account_idx ON webhook_events (account_id, created_at)".to_owned(),
            format!(
                "CREATE TABLE webhook_attempts (id {uuid} PRIMARY KEY, endpoint_id {uuid} NOT NULL, \
                 event_id text NOT NULL, status_code integer, latency_ms bigint NOT NULL, response text, \
                 error text, created_at {ts} NOT NULL)"
            ),
            "CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, created_at)".to_owned(),
            "ALTER TABLE accounts ADD COLUMN credits_low_threshold bigint".to_owned(),
        ] {
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in [
            "ALTER TABLE accounts DROP COLUMN credits_low_threshold",
            "DROP TABLE IF EXISTS webhook_attempts",
            "DROP TABLE IF EXISTS webhook_events",
            "DROP TABLE IF EXISTS webhook_endpoints",
        ] {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
