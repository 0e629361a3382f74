//! Completions, written in batches: a run that ends well hands its job to the completer
//! and returns; the completer writes every completion waiting at that moment in one
//! statement. Under load that is one round trip for hundreds of jobs; when idle each
//! completion is written at once, so a caller waiting on a job's result is not delayed.
//!
//! A completion lost with its process (after the run, before the write) leaves the job
//! running until its lease ends; it then runs again, which every handler allows.

use billing::jobs::outbox;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most completions written in one statement.
const BATCH: usize = 500;

#[derive(Clone)]
pub struct Completer {
    tx: mpsc::UnboundedSender<(Uuid, Option<Value>)>,
}

impl Completer {
    /// Starts the completer; it ends, having written everything handed to it, once every
    /// clone of the returned `Completer` is dropped.
    pub fn start(db: DatabaseConnection) -> (Completer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Completer { tx }, tokio::spawn(write(db, rx)))
    }

    pub fn done(&self, job_id: Uuid, result: Option<Value>) {
        if self.tx.send((job_id, result)).is_err() {
            tracing::warn!(%job_id, "completer stopped; the job runs again after its lease");
        }
    }
}

async fn write(db: DatabaseConnection, mut rx: mpsc::UnboundedReceiver<(Uuid, Option<Value>)>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let n = batch.len();
        let mut delay = std::time::Duration::from_millis(50);
        // Retried until written: the runs are over, and dropping a completion would run
        // the jobs again after their lease.
        while let Err(e) = outbox::complete_many(&db, &batch).await {
            tracing::warn!(jobs = n, error = %e, "cannot record completions; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(5));
        }
        platform::metrics::inc("tollgate_job_completion_batches_total", &[]);
        batch.clear();
    }
}
