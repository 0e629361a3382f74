//! Tollgate's worker: apalis workers, one per queue, fed by batched claims from the
//! Postgres outbox ([`fetch`]) and woken through Redis; batched completions ([`complete`]);
//! the queue controls; and the job handlers, one module per job kind under [`jobs`].

pub mod chain;
pub mod complete;
pub mod controls;
pub mod creem_api;
pub mod failpoint;
pub mod fetch;
pub mod jobs;
pub mod runner;
pub mod schedule;
pub mod stripe_api;
pub mod stripe_catalog;
pub mod stripe_sync;

use anyhow::Context as _;
use apalis::prelude::*;
use billing::jobs::JobQueue;
use platform::config::Settings;
use runner::{Ctx, QueueCtx};
use sea_orm::Iterable;
use std::sync::Arc;

/// Runs the worker until SIGTERM or Ctrl-C: then it stops taking jobs, lets in-flight ones
/// finish (up to `SHUTDOWN_TIMEOUT_MS`), and returns.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = platform::db::at_startup("database", || platform::db::connect(&settings))
        .await
        .context("connecting to the database")?;
    let redis_client = redis::Client::open(settings.redis_url.expose()).context("REDIS_URL")?;
    // Fail fast when Redis is unreachable at start, as when the database is.
    platform::db::at_startup("redis", || platform::db::redis(&redis_client)).await.context("connecting to Redis")?;
    let settings = Arc::new(settings);
    let chain = chain::ChainClient::from_settings(&settings).map_err(|e| anyhow::anyhow!(e))?;
    let stripe = stripe_api::client(&settings).map_err(|e| anyhow::anyhow!(e))?;
    let creem = creem_api::CreemClient::from_settings(&settings).map_err(|e| anyhow::anyhow!(e))?;
    let paused = Arc::default();
    let (completer, completions) = complete::Completer::start(db.clone());
    let ctx = Arc::new(Ctx {
        db: db.clone(),
        settings: settings.clone(),
        chain,
        stripe,
        creem,
        paused: Arc::clone(&paused),
        completer,
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let controls = tokio::spawn(controls::run(db.clone(), settings.clone(), paused, stop_rx.clone()));
    let scheduler = tokio::spawn(schedule::run(db.clone(), settings.clone(), stop_rx));
    if let Some(addr) = settings.metrics_addr {
        tokio::spawn(platform::metrics::serve(addr, db.clone()));
    }

    let mut monitor = Monitor::new().shutdown_timeout(settings.shutdown_timeout);
    let mut all_claims = Vec::new();
    for queue in JobQueue::iter() {
        let policy = settings.queue(queue);
        let claims = fetch::Claims::new(ctx.clone(), redis_client.clone(), &settings.redis_prefix, queue);
        all_claims.push(claims.clone());
        let qctx = Arc::new(QueueCtx { ctx: ctx.clone(), queue, claims });
        monitor = monitor.register(move |index| {
            let backend =
                fetch::backend(qctx.claims.clone()).unwrap_or_else(|e| panic!("building the {queue:?} backend: {e}"));
            WorkerBuilder::new(format!("{}-{}-{index}", queue.as_str(), std::process::id()))
                .backend(backend)
                .concurrency(policy.concurrency)
                .catch_panic()
                .data(qctx.clone())
                .build(runner::run)
        });
    }
    tracing::info!(queues = JobQueue::iter().count(), "worker started");
    let result = monitor.run_with_signal(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = controls.await;
    let _ = scheduler.await;
    // Claimed but never started: back to the outbox now, not after their lease.
    for claims in &all_claims {
        match claims.release().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(queue = claims.queue.as_str(), jobs = n, "released unstarted jobs"),
            Err(e) => tracing::warn!(queue = claims.queue.as_str(), error = %e, "cannot release unstarted jobs"),
        }
    }
    // The last completions are written before the process ends.
    drop(all_claims);
    drop(ctx);
    if tokio::time::timeout(std::time::Duration::from_secs(10), completions).await.is_err() {
        tracing::warn!("completions not all written; those jobs run again after their lease");
    }
    tracing::info!("worker stopped");
    result.map_err(|e| anyhow::anyhow!("monitor: {e}"))
}

/// Resolves on SIGTERM (what process managers send) or Ctrl-C.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {},
            r = tokio::signal::ctrl_c() => r?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    tracing::info!("shutdown requested: finishing in-flight jobs");
    Ok(())
}
