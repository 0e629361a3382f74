//! What every handler shares: the database, Redis, settings and the queue producers.

use anyhow::Context as _;
use apalis::prelude::TaskSink;
use billing::config::Settings;
use billing::jobs::dispatch::{self, Dispatcher, QueueBackend};
use billing::jobs::{JobMessage, JobQueue};
use sea_orm::{DatabaseConnection, Iterable};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// A push slower than this is abandoned to the relay rather than delaying the response.
const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Cloned for every request (axum's `State`), so one `Arc` rather than a clone of each
/// part (the limiter's script alone is two strings).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub dispatcher: Dispatcher,
    pub inbox: crate::ingest::Inbox,
    pub limiter: billing::verify::Limiter,
    pub keys: crate::key_cache::KeyCache,
    backends: HashMap<JobQueue, Mutex<QueueBackend>>,
}

impl AppState {
    pub async fn connect(settings: Arc<Settings>) -> anyhow::Result<AppState> {
        let db = billing::db::at_startup("database", || billing::db::connect(&settings))
            .await
            .context("connecting to the database")?;
        let client = redis::Client::open(settings.redis_url.expose()).context("REDIS_URL")?;
        let conn =
            billing::db::at_startup("redis", || billing::db::redis(&client)).await.context("connecting to Redis")?;
        let mut backends = HashMap::new();
        for queue in JobQueue::iter() {
            let backend =
                dispatch::backend(client.clone(), conn.clone(), &settings.redis_prefix, queue, settings.redis_window)
                    .map_err(|e| anyhow::anyhow!("queue backend {queue:?}: {e}"))?;
            backends.insert(queue, Mutex::new(backend));
        }
        let limiter = billing::verify::Limiter::new(conn.clone(), &settings.redis_prefix);
        let keys = crate::key_cache::KeyCache::new(settings.key_cache_ttl);
        let dispatcher = Dispatcher::new(conn, settings.redis_prefix.clone());
        let inbox = crate::ingest::Inbox::start(db.clone(), dispatcher.clone(), settings.clone());
        Ok(AppState(Arc::new(Shared { db, settings, dispatcher, inbox, limiter, keys, backends })))
    }

    /// Pushes a committed job to its queue through apalis. A failed push is only logged:
    /// the job is durable in the outbox and the relay pushes it after its grace period.
    pub async fn push_job(&self, queue: JobQueue, job_id: Uuid) {
        let Some(backend) = self.backends.get(&queue) else {
            return;
        };
        // Each push gets its own clone (a fresh sink over the shared connection).
        let Ok(mut backend) = backend.lock().map(|b| b.clone()) else {
            return;
        };
        let pushed = tokio::time::timeout(PUSH_TIMEOUT, backend.push(JobMessage { job_id })).await;
        if let Err(e) = pushed.map_err(|_| "timed out".to_owned()).and_then(|r| r.map_err(|e| e.to_string())) {
            tracing::warn!(queue = queue.as_str(), %job_id, error = %e, "push failed; the relay will retry");
        }
    }
}
