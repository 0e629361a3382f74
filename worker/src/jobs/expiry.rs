//! The expiry job: one per tick (hourly by default), see `billing::subscriptions::expire_due`.
//! It also sweeps `Idempotency-Key` records past their 24 hours.

use super::JobError;
use crate::runner::Ctx;

pub async fn handle(ctx: &Ctx) -> Result<billing::subscriptions::Expired, JobError> {
    let now = chrono::Utc::now();
    let done = billing::subscriptions::expire_due(&ctx.db, now).await?;
    let swept = billing::idempotency::sweep_expired(&ctx.db, now).await?;
    if swept > 0 {
        tracing::info!(swept, "expired idempotency records deleted");
    }
    if !done.subscriptions.is_empty() || !done.pledges.is_empty() {
        tracing::info!(
            subscriptions = done.subscriptions.len(),
            pledges = done.pledges.len(),
            keys = done.keys_revoked,
            "expired"
        );
    }
    Ok(done)
}
