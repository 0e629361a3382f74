//! Database and Redis connections.

use crate::config::Settings;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr};
use std::time::Duration;

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    connect_url(settings.database_url.expose(), 20).await
}

pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, true).await
}

/// A small pool for a hot path whose writes are idempotent and that tries again, on the
/// main pool, when one fails: its connections are not pinged before each use, a round
/// trip the path would otherwise pay per batch (webhook ingestion: ~10 % of its rate).
/// A connection that died (the database restarted) is found when used, and dropped.
pub async fn connect_unpinged(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, max_connections, false).await
}

async fn connect_with(url: &str, max_connections: u32, ping: bool) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(3))
        .test_before_acquire(ping)
        .sqlx_logging(false);
    let db = Database::connect(opts).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // The api and the worker are separate processes writing one file: WAL lets readers
        // run beside the writer, and a busy timeout makes writers queue instead of failing.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA busy_timeout=10000").await?;
    }
    Ok(db)
}

/// A shared, reconnecting Redis connection. Short timeouts: when Redis is away, callers
/// fall back on the database outbox quickly instead of hanging a request.
pub async fn redis(client: &redis::Client) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    client.get_connection_manager_with_config(config).await
}

/// Retries a connection at start-up for up to a minute: processes may start before the
/// database or Redis (a deploy, a machine boot) and should wait rather than crash-loop.
pub async fn at_startup<T, E, F, Fut>(what: &str, mut connect: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(100);
    loop {
        match connect().await {
            Ok(v) => return Ok(v),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "{what} unavailable at start; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
