//! The end-to-end tests, one module per area, compiled as one test binary (one link
//! instead of one per file): the real `api` and `worker` binaries against Postgres, Redis,
//! anvil and the fake Stripe.

mod admin_billing;
mod api_keys;
mod api_skeleton;
mod billing_status;
mod contract;
mod credentials;
mod creem;
mod expiry;
mod fake_stripe;
mod identity;
mod job_spine;
mod key_limits;
mod ledger_checks;
mod metering;
mod metrics;
mod pages;
mod payment_reversals;
mod plan_limits;
mod reconciliation;
mod retention;
mod security;
mod stripe_pools_tiers;
mod stripe_subscriptions;
mod stripe_topup;
mod usdc;
mod verify_gateway;
mod wallet_binding;
mod webhook_exactly_once;
mod webhook_rejections;
mod webhooks_out;
mod worker_backlog;
mod worker_resilience;
