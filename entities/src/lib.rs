//! SeaORM entities: one module per table, and the typed values their columns hold (money,
//! account and order ids).
//!
//! Each migration's columns are added here by hand, with the column's Rust type (`Micros`,
//! `AccountId`, `OrderId`, the state enums), so a row is typed from the database on.

pub mod accounts;
pub mod api_keys;
pub mod applied_effects;
pub mod audit_log;
pub mod chain_cursors;
pub mod checkin_config;
pub mod checkins;
pub mod coupon_redemptions;
pub mod coupons;
pub mod enums;
pub mod idempotency_keys;
pub mod ids;
pub mod jobs;
pub mod ledger_accounts;
pub mod ledger_transfers;
pub mod management_keys;
pub mod money;
pub mod orders;
pub mod payment_methods;
pub mod payments;
pub mod plan_limits;
pub mod plans;
pub mod pool_pledges;
pub mod pools;
pub mod queue_controls;
pub mod stripe_events;
pub mod subscriptions;
pub mod usage_batches;
pub mod usage_counters;
pub mod usage_events;
pub mod usage_gauges;
pub mod usdc_transfers;
pub mod wallet_challenges;
pub mod webhook_attempts;
pub mod webhook_endpoints;
pub mod webhook_events;

pub use enums::*;
pub use ids::{AccountId, OrderId};
