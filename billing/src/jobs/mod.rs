//! Jobs: the contracts shared by producers (api, schedules) and the worker, and the durable
//! path every job takes.
//!
//! A job is first a row in the `jobs` outbox, written in the same transaction as the
//! intent it serves ([`outbox::enqueue`]); after commit the producer wakes a worker through
//! Redis; workers claim due rows in batches ([`outbox::claim_batch`], one runner at a time
//! under a lease) and record the outcomes. Redis carries only wake-ups; the database is the
//! truth and holds the backlog.

pub mod contracts;
pub mod control;
pub mod outbox;

pub use contracts::{Job, JobMessage, QueuePolicy};
pub use entities::JobQueue;
