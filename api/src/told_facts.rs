//! The verification path's facts (a key's monthly quota reached 80 % or 100 %) this api
//! process has already committed. A fact is told once by its key (the database's unique
//! key sees to that across processes), but every request the quota refuses carries the
//! 100 % fact again: without this memory, a client hammering past its quota would cost a
//! database transaction per request and could exhaust the pool for everyone.

use billing::webhooks::Fact;
use moka::sync::Cache;
use std::time::Duration;

/// Fact keys name their month, so an hour's memory only saves repeated no-op writes; a key
/// forgotten costs one write that changes nothing.
const REMEMBER: Duration = Duration::from_secs(3_600);
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
pub struct ToldFacts {
    keys: Cache<String, ()>,
}

impl Default for ToldFacts {
    fn default() -> ToldFacts {
        ToldFacts { keys: Cache::builder().max_capacity(CAPACITY).time_to_live(REMEMBER).build() }
    }
}

impl ToldFacts {
    /// The facts this process has not committed yet.
    pub fn untold(&self, facts: Vec<Fact>) -> Vec<Fact> {
        facts.into_iter().filter(|f| !self.keys.contains_key(&f.key)).collect()
    }

    /// Remembers facts once their transaction committed.
    pub fn remember<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        for key in keys {
            self.keys.insert(key.to_owned(), ());
        }
    }
}
