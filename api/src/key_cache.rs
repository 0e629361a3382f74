//! What this api process last read about each key, for `KEY_CACHE_TTL_MS`.
//!
//! Verification is the hot path: reading a key, its subscription and the balance from
//! Postgres on every call would cost more than the rest of the request. The price is that a
//! revocation, a rotation or a top-up reaches every api process within the TTL (1 s by
//! default; 0 reads Postgres every time). The counters that must be exact — rate and quota
//! — are never cached: they live in Redis.

use billing::DomainError;
use billing::verify::{KeyInfo, KeyRef};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Past this many entries the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Hash, PartialEq, Eq)]
enum Slot {
    Hash(String),
    Id(Uuid),
}

/// When a key was read, and what was found (`None`: no such key).
type Entry = (Instant, Option<Arc<KeyInfo>>);

#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<RwLock<HashMap<Slot, Entry>>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache { ttl, entries: Arc::new(RwLock::new(HashMap::new())) }
    }

    /// The key behind a plaintext key (by its SHA-256) or an id; `None` for no such key.
    pub async fn get(&self, db: &DatabaseConnection, by: KeyRef<'_>) -> Result<Option<Arc<KeyInfo>>, DomainError> {
        let slot = match by {
            KeyRef::Hash(h) => Slot::Hash(h.to_owned()),
            KeyRef::Id(id) => Slot::Id(id),
        };
        if !self.ttl.is_zero()
            && let Ok(entries) = self.entries.read()
            && let Some((at, info)) = entries.get(&slot)
            && at.elapsed() < self.ttl
        {
            return Ok(info.clone());
        }
        let info = KeyInfo::load(db, by).await?.map(Arc::new);
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.write()
        {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(slot, (Instant::now(), info.clone()));
        }
        Ok(info)
    }

    /// Forgets what this process knows about a key (after it changed it itself).
    pub fn forget(&self, id: Uuid) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|slot, (_, info)| *slot != Slot::Id(id) && info.as_ref().is_none_or(|i| i.key.id != id));
        }
    }
}
