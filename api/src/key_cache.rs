//! What this api process last read about each key, for `KEY_CACHE_TTL_MS`.
//!
//! Verification is the hot path: reading a key, its subscription and the balance from
//! Postgres on every call would cost more than the rest of the request. The price is that a
//! revocation, a rotation or a top-up reaches every api process within the TTL (1 s by
//! default; 0 reads Postgres every time). The counters that must be exact — rate and quota
//! — are never cached: they live in Redis.
//!
//! When an entry expires under load, the requests that miss it together wait on one read
//! (moka's `try_get_with`): each reading Postgres for itself, tens of thousands of
//! requests a second would queue on the pool until they timed out.

use billing::DomainError;
use billing::verify::{KeyInfo, KeyRef};
use moka::future::Cache;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The most keys held. Admission is TinyLFU (moka): when full, a newcomer is kept only if
/// it is asked for more often than what it would evict, so a flood of random keys cannot
/// push the gateway's hot keys out.
const MAX_ENTRIES: u64 = 100_000;

#[derive(Clone, Hash, PartialEq, Eq)]
enum Slot {
    Hash(String),
    Id(Uuid),
}

#[derive(Clone)]
pub struct KeyCache {
    /// `None` when `KEY_CACHE_TTL_MS` is 0: every read goes to Postgres.
    entries: Option<Cache<Slot, Option<Arc<KeyInfo>>>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder().max_capacity(MAX_ENTRIES).time_to_live(ttl).support_invalidation_closures().build()
        });
        KeyCache { entries }
    }

    /// The key behind a plaintext key (by its SHA-256) or an id; `None` for no such key.
    pub async fn get(&self, db: &DatabaseConnection, by: KeyRef<'_>) -> Result<Option<Arc<KeyInfo>>, DomainError> {
        let slot = match by {
            KeyRef::Hash(h) => Slot::Hash(h.to_owned()),
            KeyRef::Id(id) => Slot::Id(id),
        };
        let load = async { KeyInfo::load(db, by).await.map(|info| info.map(Arc::new)) };
        match &self.entries {
            Some(cache) => cache.try_get_with(slot, load).await.map_err(|e| DomainError::Unavailable(e.to_string())),
            None => load.await,
        }
    }

    /// Forgets what this process knows about a key (after it changed it itself).
    pub fn forget(&self, id: Uuid) {
        if let Some(cache) = &self.entries {
            // Only fails when invalidation closures are not enabled; they are.
            let _ = cache.invalidate_entries_if(move |slot, info| {
                *slot == Slot::Id(id) || info.as_ref().is_some_and(|i| i.key.id == id)
            });
        }
    }
}
