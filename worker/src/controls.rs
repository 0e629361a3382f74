//! Operators' queue controls, as this process sees them: the paused queues are read every
//! `RELAY_INTERVAL_MS` and shared with the fetchers and runners, so a pause takes effect
//! within one interval on every worker process.

use billing::jobs::JobQueue;
use platform::config::Settings;
use sea_orm::DatabaseConnection;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

pub async fn run(
    db: DatabaseConnection,
    settings: Arc<Settings>,
    paused: Arc<RwLock<HashSet<JobQueue>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(settings.relay_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match billing::jobs::control::paused(&db).await {
            Ok(now_paused) => {
                if let Ok(mut shared) = paused.write() {
                    *shared = now_paused;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read queue controls"),
        }
    }
}
