//! Database and Redis connections.

use crate::config::Settings;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};
use std::time::Duration;

pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    connect_url(settings.database_url.expose(), 20).await
}

pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(3))
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
pub async fn redis(
    client: &redis::Client,
) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    client.get_connection_manager_with_config(config).await
}
