//! What every Tollgate process runs on, apart from the domain (`billing`): configuration
//! read and checked at start, database and Redis connections, logs, metrics, the Redis
//! lists jobs are dispatched through, and the Redis key limiter. Keeping these here lets
//! the domain, and `migrate` with it, build without Redis or apalis.

pub mod config;
pub mod db;
pub mod dispatch;
pub mod limiter;
pub mod metrics;
pub mod secret;
pub mod startup;
pub mod telemetry;
