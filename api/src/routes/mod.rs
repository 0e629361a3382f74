//! Handlers, grouped by resource. `crate::surfaces` assembles them into one router per API
//! surface.

pub mod admin_credits;
pub mod admin_jobs;
pub mod admin_overview;
pub mod admin_plans;
pub mod cards;
pub mod checkin;
pub mod coupons;
pub mod credits;
pub mod entitlements;
pub mod health;
pub mod history;
pub mod keys;
pub mod management_keys;
pub mod plans;
pub mod pools;
pub mod reconciliation;
pub mod retired;
pub mod status;
pub mod subscription;
pub mod tier_checkout;
pub mod topup;
pub mod usage;
pub mod usdc;
pub mod verify;
pub mod webhook_endpoints;
pub mod webhooks;
