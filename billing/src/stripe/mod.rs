//! Stripe: webhook signatures, the event inbox, and applying events to our state.

pub mod checkout;
pub mod inbox;
pub mod refund;
pub mod signature;
