//! The active plans of each kind, as this api process last read them, for
//! `KEY_CACHE_TTL_MS`. A refused verification names the plan that would have let it
//! through; refusals come in floods (a client over its rate limit retries at once), and
//! reading the catalog for each would turn every refused request into a database query.
//! A plan edited through this process is seen at once (`forget_all`); one edited
//! elsewhere within the TTL, as keys are.

use billing::DomainError;
use entities::PlanKind;
use entities::plans::Model as Plan;
use moka::future::Cache;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct PlanCache {
    /// `None` when `KEY_CACHE_TTL_MS` is 0: every read goes to Postgres.
    entries: Option<Cache<PlanKind, Arc<Vec<Plan>>>>,
}

impl PlanCache {
    pub fn new(ttl: Duration) -> PlanCache {
        PlanCache { entries: (!ttl.is_zero()).then(|| Cache::builder().max_capacity(16).time_to_live(ttl).build()) }
    }

    /// The active plans of `kind`, in catalog order.
    pub async fn of_kind(&self, db: &DatabaseConnection, kind: PlanKind) -> Result<Arc<Vec<Plan>>, DomainError> {
        // Requests that miss together wait on one read.
        let load = async { billing::catalog::plans_of_kind(db, kind).await.map(Arc::new) };
        match &self.entries {
            Some(cache) => cache.try_get_with(kind, load).await.map_err(|e| DomainError::Unavailable(e.to_string())),
            None => load.await,
        }
    }

    /// Forgets every kind (this process changed the catalog).
    pub fn forget_all(&self) {
        if let Some(cache) = &self.entries {
            cache.invalidate_all();
        }
    }
}
