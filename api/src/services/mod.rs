//! What handlers call: each service runs one use case that several API surfaces share,
//! with the database, the outbox and the wait for the worker. Handlers parse and validate
//! into domain types, call one service function, and render its result.

pub mod checkout;
pub mod subscriptions;
pub mod usdc;
