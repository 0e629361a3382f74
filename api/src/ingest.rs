//! Group commit for webhook ingestion. Each delivery is verified in its own request, then
//! handed to a collector; the collector gathers whatever deliveries are waiting (no timer:
//! under light load a batch is one event, under heavy load it is whatever arrived while the
//! previous batch committed, up to MAX_BATCH) and commits them in one transaction; a second
//! batch commits beside the first only once the first has taken OVERLAP_AFTER.
//! Each request answers only after its batch committed, so nothing unsaved is ever
//! acknowledged. New jobs are then pushed to Redis in one bounded call, after the batch
//! has given its turn back.
//!
//! Under load a request's wait is about a batch and a half, so what ingestion can take from
//! 64 connections is bounded by a batch's time, not by the cores: on Postgres a batch is
//! one statement on a connection not pinged first ([`Pools`]), two round trips where a
//! transaction on a checked connection took five (~20 % more events a second).

use billing::jobs::JobQueue;
use billing::stripe::inbox::{self, Incoming, Stored};
use platform::config::Settings;
use platform::dispatch::Dispatcher;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// Most events one transaction holds.
const MAX_BATCH: usize = 512;
/// Batches committing at once (each holds one database connection). Concurrent batches
/// insert into the same right-hand pages of the same indexes (event ids, times, job ids are
/// all increasing) and wait on each other's buffer locks: on the 2-core benchmark machine
/// one or two at a time ingest ~15,000 events/s, four ~14,000, eight ~11,700 and sixteen
/// ~9,200, with the tail shortest at one or two.
const PARALLEL_BATCHES: usize = 2;
/// How long a commit holds the next batch back before that one starts beside it.
const OVERLAP_AFTER: Duration = Duration::from_millis(5);

/// The connections a batch commits on: its own few, not pinged before each use, and the
/// api's pool to try again on when one of those turns out dead (the statement is
/// idempotent: every event and job is keyed). On SQLite both are the api's pool: one file,
/// one writer.
#[derive(Clone)]
pub struct Pools {
    fast: DatabaseConnection,
    main: DatabaseConnection,
}

impl Pools {
    pub async fn connect(main: &DatabaseConnection, settings: &Settings) -> Result<Pools, sea_orm::DbErr> {
        let fast = if main.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            platform::db::connect_unpinged(settings.database_url.expose(), PARALLEL_BATCHES as u32).await?
        } else {
            main.clone()
        };
        Ok(Pools { fast, main: main.clone() })
    }
}

struct Pending {
    item: Incoming,
    reply: oneshot::Sender<Result<Stored, String>>,
}

#[derive(Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Pending>,
}

impl Inbox {
    pub fn start(db: Pools, dispatcher: Dispatcher, settings: Arc<Settings>) -> Inbox {
        let (tx, mut rx) = mpsc::channel::<Pending>(MAX_BATCH * PARALLEL_BATCHES * 4);
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(PARALLEL_BATCHES));
            let mut last_start = Instant::now();
            while let Some(first) = rx.recv().await {
                // A batch is committing: the next waits for it, and grows meanwhile, unless
                // the commit takes longer than OVERLAP_AFTER; then the next starts beside it
                // on another connection, so one slow commit does not hold every request.
                if permits.available_permits() < PARALLEL_BATCHES {
                    let idle = permits.acquire_many(PARALLEL_BATCHES as u32);
                    let _ = tokio::time::timeout_at(last_start + OVERLAP_AFTER, idle).await;
                }
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                last_start = Instant::now();
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let (db, dispatcher, settings) = (db.clone(), dispatcher.clone(), settings.clone());
                tokio::spawn(async move { flush(&db, &dispatcher, &settings, batch, permit).await });
            }
        });
        Inbox { tx }
    }

    /// Stores one verified event; resolves once it is committed (or failed to be).
    pub async fn store(&self, item: Incoming) -> Result<Stored, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Pending { item, reply }).await.map_err(|_| "inbox closed".to_owned())?;
        rx.await.map_err(|_| "inbox dropped the request".to_owned())?
    }
}

/// Commits one batch under `permit`, which it gives back as soon as the batch is answered:
/// the wake-up after is a Redis round trip no other batch need wait for.
async fn flush(
    db: &Pools,
    dispatcher: &Dispatcher,
    settings: &Settings,
    batch: Vec<Pending>,
    permit: OwnedSemaphorePermit,
) {
    // The events move into the statement, not copied: each holds its whole raw body.
    let (items, replies): (Vec<Incoming>, Vec<_>) = batch.into_iter().map(|p| (p.item, p.reply)).unzip();
    let policy = settings.queue(JobQueue::StripeEvent);
    let stored = match inbox::store_many(&db.fast, &items, &policy).await {
        Err(e) => {
            tracing::warn!(error = %e, events = items.len(), "storing webhooks failed; trying again");
            inbox::store_many(&db.main, &items, &policy).await
        }
        stored => stored,
    };
    match stored {
        Ok(stored) => {
            let first_new = stored.iter().find_map(|s| s.new_job);
            // Committed: answer first, then wake a worker (one wake-up for the batch: the
            // worker claims every job committed before it).
            for (reply, s) in replies.into_iter().zip(stored) {
                let _ = reply.send(Ok(s));
            }
            drop(permit);
            if let Some(job_id) = first_new {
                dispatcher.wake(JobQueue::StripeEvent, job_id).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = items.len(), "cannot store webhooks");
            for reply in replies {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}
