//! The outbox relay: pushes due jobs from the database to Redis, keeping each queue's
//! Redis list below `JOB_REDIS_WINDOW` so any backlog waits in the database, not in Redis
//! memory. Due means: never pushed (the producer's push was lost), pushed but unclaimed
//! within the lease, a retry whose backoff ended, or a run whose worker died.
//!
//! Every worker process runs one; on Postgres `SKIP LOCKED` keeps them from pushing the
//! same row together, and a duplicate push is harmless anyway (the claim runs it once).

use billing::jobs::JobMessage;
use billing::jobs::JobQueue;
use billing::jobs::outbox;
use platform::config::Settings;
use platform::dispatch::Dispatcher;
use sea_orm::{DatabaseConnection, Iterable};
use std::sync::Arc;
use tokio::sync::watch;

pub async fn run(
    db: DatabaseConnection,
    dispatcher: Dispatcher,
    settings: Arc<Settings>,
    paused: Arc<std::sync::RwLock<std::collections::HashSet<JobQueue>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(settings.relay_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        // Paused queues (read each pass, shared with this process's workers) are skipped.
        let now_paused = match billing::jobs::control::paused(&db).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read queue controls");
                continue;
            }
        };
        if let Ok(mut shared) = paused.write() {
            shared.clone_from(&now_paused);
        }
        for queue in JobQueue::iter().filter(|q| !now_paused.contains(q)) {
            if let Err(e) = relay_queue(&db, &dispatcher, &settings, queue).await {
                tracing::warn!(queue = queue.as_str(), error = %e, "relay pass failed");
            }
        }
    }
}

/// One pass over one queue; returns how many jobs it pushed.
pub async fn relay_queue(
    db: &DatabaseConnection,
    dispatcher: &Dispatcher,
    settings: &Settings,
    queue: JobQueue,
) -> anyhow::Result<usize> {
    let waiting = dispatcher.depth(queue).await?;
    let room = settings.redis_window.saturating_sub(waiting);
    let ids = outbox::take_due(db, queue, room as u64, settings.dispatch_lease).await?;
    let messages: Vec<JobMessage> = ids.into_iter().map(|job_id| JobMessage { job_id }).collect();
    dispatcher.push(queue, &messages).await?;
    if !messages.is_empty() {
        tracing::debug!(queue = queue.as_str(), pushed = messages.len(), "relayed");
    }
    Ok(messages.len())
}
