//! Periodic jobs. Every worker process runs the schedule; each tick becomes one job whose
//! key names the tick, so N workers still produce one run per tick.

use billing::jobs::contracts::{ChainScan, Expiry, Reconcile, Retention};
use billing::jobs::{Job, outbox};
use platform::config::Settings;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub async fn run(db: DatabaseConnection, settings: Arc<Settings>, stop: watch::Receiver<bool>) {
    let mut loops = Vec::new();
    loops.push(tokio::spawn(every(
        db.clone(),
        settings.clone(),
        stop.clone(),
        settings.expiry_interval,
        Start::Now,
        |tick| Expiry { tick },
    )));
    loops.push(tokio::spawn(every(
        db.clone(),
        settings.clone(),
        stop.clone(),
        settings.retention_interval,
        Start::Now,
        |tick| Retention { tick },
    )));
    // Reconciliation is not urgent at start-up; its first run is one interval in.
    loops.push(tokio::spawn(every(
        db.clone(),
        settings.clone(),
        stop.clone(),
        settings.reconcile_interval,
        Start::AfterInterval,
        |tick| Reconcile { window: tick },
    )));
    // The chain scan only where USDC is configured.
    if !settings.payment_address.is_empty() {
        loops.push(tokio::spawn(every(db, settings.clone(), stop, settings.chain_scan_interval, Start::Now, |tick| {
            ChainScan { tick }
        })));
    }
    for l in loops {
        let _ = l.await;
    }
}

/// When a schedule first fires.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Now,
    AfterInterval,
}

/// Enqueues `make(tick)` at every multiple of `interval` (UTC); the tick names the start of
/// its window, e.g. `2026-11-22T10:00:00Z` for an hourly job.
async fn every<J: Job>(
    db: DatabaseConnection,
    settings: Arc<Settings>,
    mut stop: watch::Receiver<bool>,
    interval: Duration,
    start: Start,
    make: impl Fn(String) -> J,
) {
    let interval = interval.max(Duration::from_millis(100));
    let first = match start {
        Start::Now => tokio::time::Instant::now(),
        Start::AfterInterval => tokio::time::Instant::now() + interval,
    };
    let mut tick = tokio::time::interval_at(first, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let ms = interval.as_millis().max(1) as i64;
        let start = chrono::Utc::now().timestamp_millis() / ms * ms;
        let name =
            chrono::DateTime::from_timestamp_millis(start).map(|t| t.to_rfc3339()).unwrap_or_else(|| start.to_string());
        let job = make(format!("{name}/{ms}"));
        // Due at once: an idle fetcher finds it within a second (no wake-up needed).
        if let Err(e) = outbox::enqueue(&db, &job, &settings.queue(J::QUEUE)).await {
            tracing::warn!(error = %e, "cannot schedule {}", J::NAME);
        }
    }
}
