//! The expiry job: one per tick (hourly by default), see `billing::subscriptions::expire_due`.

use super::JobError;
use crate::runner::Ctx;
use serde_json::Value;

pub async fn handle(ctx: &Ctx) -> Result<Value, JobError> {
    let done = billing::subscriptions::expire_due(&ctx.db, chrono::Utc::now()).await?;
    if !done.subscriptions.is_empty() || !done.pledges.is_empty() {
        tracing::info!(
            subscriptions = done.subscriptions.len(),
            pledges = done.pledges.len(),
            keys = done.keys_revoked,
            "expired"
        );
    }
    serde_json::to_value(done).map_err(|e| JobError::Terminal(e.to_string()))
}
