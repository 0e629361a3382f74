//! Stripe: webhook signatures, the event inbox, and applying events to our state.

pub mod checkout;
pub mod dispute;
pub mod inbox;
pub mod invoice;
pub mod payment;
pub mod refund;
pub mod reversal;
pub mod signature;
pub mod subscription;
pub mod topups;
