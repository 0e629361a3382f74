//! What every handler shares: the database, Redis, settings and the queue producers.

use anyhow::Context as _;
use billing::jobs::JobQueue;
use platform::config::Settings;
use platform::dispatch::Dispatcher;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use uuid::Uuid;

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
    pub limiter: platform::limiter::Limiter,
    pub keys: crate::key_cache::KeyCache,
    /// The active plans, for explaining refusals on the verification path.
    pub plans: crate::plan_cache::PlanCache,
    /// Quota facts this process already committed (refusals repeat them).
    pub told: crate::told_facts::ToldFacts,
    /// Verifies bearer JWTs (and holds the identity provider's keys).
    pub tokens: crate::auth::jwt::TokenVerifier,
}

impl AppState {
    pub async fn connect(settings: Arc<Settings>) -> anyhow::Result<AppState> {
        let db = platform::db::at_startup("database", || platform::db::connect(&settings))
            .await
            .context("connecting to the database")?;
        let client = redis::Client::open(settings.redis_url.expose()).context("REDIS_URL")?;
        let conn =
            platform::db::at_startup("redis", || platform::db::redis(&client)).await.context("connecting to Redis")?;
        let limiter = platform::limiter::Limiter::new(conn.clone(), &settings.redis_prefix, settings.verify_mode);
        let keys = crate::key_cache::KeyCache::new(settings.key_cache_ttl);
        let plans = crate::plan_cache::PlanCache::new(settings.key_cache_ttl);
        let dispatcher = Dispatcher::new(conn, settings.redis_prefix.clone(), settings.redis_window);
        let inbox = crate::ingest::Inbox::start(
            crate::ingest::Pools::connect(&db, &settings).await.context("connecting the inbox to the database")?,
            dispatcher.clone(),
            settings.clone(),
        );
        let tokens = crate::auth::jwt::TokenVerifier::new(&settings);
        Ok(AppState(Arc::new(Shared {
            db,
            settings,
            dispatcher,
            inbox,
            limiter,
            keys,
            plans,
            told: Default::default(),
            tokens,
        })))
    }

    /// Wakes a worker for a committed job.
    pub async fn wake_worker(&self, queue: JobQueue, job_id: Uuid) {
        self.dispatcher.wake(queue, job_id).await
    }
}
