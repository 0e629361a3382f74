//! Periodic jobs. Every worker process runs the schedule; each tick becomes one job whose
//! key names the tick, so N workers still produce one run per tick.

use billing::config::Settings;
use billing::jobs::{JobPayload, JobQueue, outbox};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub async fn run(db: DatabaseConnection, settings: Arc<Settings>, mut stop: watch::Receiver<bool>) {
    if settings.payment_address.is_empty() {
        return; // no chain scan without USDC configured
    }
    let interval = settings.chain_scan_interval.max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let n = chrono::Utc::now().timestamp_millis() / interval.as_millis().max(1) as i64;
        let payload = JobPayload::ChainScan { tick: format!("{}:{n}", interval.as_millis()) };
        // No grace: the relay pushes it on its next pass.
        if let Err(e) = outbox::enqueue(&db, &payload, &settings.queue(JobQueue::Reconcile), Duration::ZERO).await {
            tracing::warn!(error = %e, "cannot schedule the chain scan");
        }
    }
}
