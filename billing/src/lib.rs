//! Tollgate's shared domain, used by both the `api` and the `worker` binaries.
//!
//! Money and typed ids, the double-entry ledger, accounts and orders, the Stripe event inbox,
//! the job contracts and the durable job outbox. Nothing here speaks HTTP or Redis (that is
//! `platform`); handlers in `api` and jobs in `worker` are thin layers over these functions.

pub mod accounts;
pub mod api_keys;
pub mod catalog;
pub mod chain;
pub mod checkin;
pub mod coupons;
pub mod credit_admin;
pub mod creem;
pub mod db;
pub mod entitlements;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod ledger;
pub mod management_keys;
pub mod money;
pub mod orders;
pub mod payment_methods;
pub mod plan_admin;
pub mod pools;
pub mod reconcile;
pub mod retention;
pub mod stripe;
pub mod subscriptions;
pub mod upgrade;
pub mod usage;
pub mod usdc;
pub mod verify;
pub mod wallet;
pub mod webhooks;

pub use entities::ids::{AccountId, OrderId};
pub use error::DomainError;
pub use money::Micros;
