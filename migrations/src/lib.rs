//! Schema migrations for Tollgate. Each file `mYYYYMMDD_HHMMSS_name.rs` is one schema change;
//! every migration runs on Postgres (production, tests) and SQLite (the quick start).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial_schema;
mod m20261123_000002_queue_controls;
mod m20261123_000003_usage_batches;
mod m20261127_000004_jobs_unfinished_index;
mod m20261127_000005_payment_links;
mod m20261127_000006_wallet_proofs;
mod m20261127_000007_cursor_position;
mod m20261127_000008_coupon_per_account;
mod m20261127_000009_usdc_match_attempts;
mod m20261127_000010_usdc_references;
mod m20261127_000011_subscription_trial_end;
mod m20261127_000012_jobs_due_index;
mod m20261128_000013_retention_indexes;
mod m20261128_000014_api_key_scopes;
mod m20261128_000015_usage_gauges;
mod m20261203_000016_creem;
mod m20261203_000017_outgoing_webhooks;
mod m20261203_000018_stripe_events_pending_index;
mod m20261207_000019_jobs_claimed_in_place;
mod m20261207_000020_stripe_inbox_marked_in_place;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial_schema::Migration),
            Box::new(m20261123_000002_queue_controls::Migration),
            Box::new(m20261123_000003_usage_batches::Migration),
            Box::new(m20261127_000004_jobs_unfinished_index::Migration),
            Box::new(m20261127_000005_payment_links::Migration),
            Box::new(m20261127_000006_wallet_proofs::Migration),
            Box::new(m20261127_000007_cursor_position::Migration),
            Box::new(m20261127_000008_coupon_per_account::Migration),
            Box::new(m20261127_000009_usdc_match_attempts::Migration),
            Box::new(m20261127_000010_usdc_references::Migration),
            Box::new(m20261127_000011_subscription_trial_end::Migration),
            Box::new(m20261127_000012_jobs_due_index::Migration),
            Box::new(m20261128_000013_retention_indexes::Migration),
            Box::new(m20261128_000014_api_key_scopes::Migration),
            Box::new(m20261128_000015_usage_gauges::Migration),
            Box::new(m20261203_000016_creem::Migration),
            Box::new(m20261203_000017_outgoing_webhooks::Migration),
            Box::new(m20261203_000018_stripe_events_pending_index::Migration),
            Box::new(m20261207_000019_jobs_claimed_in_place::Migration),
            Box::new(m20261207_000020_stripe_inbox_marked_in_place::Migration),
        ]
    }
}
