//! Creem, the second card provider, beside Stripe (`crate::stripe`). Creem sells products:
//! a plan has a Creem product per interval (`plans.creem_product_id`, `_yearly`), credits are
//! bought as units of a one-dollar product (`CREEM_TOPUP_PRODUCT_ID`).
//!
//! What is Creem's own is here: its webhook signature, its event shapes, and how each event
//! maps to an effect. The effects themselves are the ones Stripe's events have, on the same
//! tables: the order paid (`stripe::checkout::apply_paid_order`), a period paid (payment,
//! revenue, period credits, keyed by Creem's transaction), a refund or a dispute
//! (`stripe::refund::refund_to`, `stripe::dispute::apply_to`), each moving money through the
//! provider's own clearing account. Events share the Stripe inbox table, under the key
//! `creem:<event id>`, so a redelivery is stored once.

pub mod effects;
pub mod events;
pub mod inbox;
pub mod signature;
pub mod subscription;
