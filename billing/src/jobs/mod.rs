//! Jobs: the contracts shared by producers (api, schedules) and the worker, and the durable
//! path every job takes.
//!
//! A job is first a row in the `jobs` outbox, written in the same transaction as the
//! intent it serves ([`outbox::enqueue`]); after commit it is pushed to a Redis list
//! ([`dispatch`]); a worker claims the row before running it, so a job pushed twice runs
//! once at a time, and records the outcome. The relay re-pushes rows whose push was lost
//! or whose worker died. Redis is the fast path, the database the truth.

pub mod contracts;
pub mod control;
pub mod outbox;

pub use contracts::{Job, JobMessage, QueuePolicy};
pub use entities::JobQueue;
