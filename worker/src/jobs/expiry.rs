//! The expiry job: one per tick (hourly by default), see `billing::subscriptions::expire_due`.
//! Records past their retention window are the retention job's (`billing::retention`).

use super::JobError;
use crate::runner::Ctx;

pub async fn handle(ctx: &Ctx) -> Result<billing::subscriptions::Expired, JobError> {
    let now = chrono::Utc::now();
    let done = billing::subscriptions::expire_due(&ctx.db, now).await?;
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
