//! `tollgate-admin`: the operator's command line, the same operations as the admin routes,
//! straight against `DATABASE_URL`.
//!
//! ```text
//! tollgate-admin report            the reconciliation report (JSON)
//! tollgate-admin dead-jobs         dead jobs with their last errors (JSON)
//! tollgate-admin requeue <job id>  requeue one dead job
//! tollgate-admin requeue-dead      requeue every dead job
//! tollgate-admin reconcile         schedule a reconciliation run now (a worker runs it)
//! tollgate-admin queues            each queue: paused or not, job counts
//! tollgate-admin pause <queue>     pause a queue (its jobs wait); resume <queue> resumes it
//! ```

use anyhow::{Context as _, bail};
use billing::jobs::contracts::Reconcile;
use billing::jobs::{Job, outbox};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://tollgate.sqlite?mode=rwc".to_owned());
    let db = platform::db::connect_url(&url, 2).await.context("connecting to DATABASE_URL")?;
    let out = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["report"] => serde_json::to_value(billing::reconcile::report(&db).await?)?,
        ["dead-jobs"] => {
            let dead = outbox::dead(&db, 500).await?;
            serde_json::json!(dead
                .iter()
                .map(|j| serde_json::json!({"id": j.id, "key": j.job_key, "queue": j.queue, "attempts": j.attempts, "lastError": j.last_error}))
                .collect::<Vec<_>>())
        }
        ["requeue", id] => {
            let id = uuid::Uuid::parse_str(id).context("a job id")?;
            serde_json::json!({"requeued": outbox::requeue(&db, id).await?})
        }
        ["requeue-dead"] => serde_json::json!({"requeued": outbox::requeue_all_dead(&db).await?}),
        ["queues"] => serde_json::to_value(billing::jobs::control::states(&db).await?)?,
        [verb @ ("pause" | "resume"), name] => {
            let Some(queue) = billing::jobs::control::parse_queue(name) else { bail!("no queue {name:?}") };
            if *verb == "pause" {
                billing::jobs::control::pause(&db, queue).await?;
            } else {
                billing::jobs::control::resume(&db, queue).await?;
            }
            serde_json::json!({"queue": queue, "paused": *verb == "pause"})
        }
        ["reconcile"] => {
            let run = Reconcile { window: format!("manual:{}", uuid::Uuid::now_v7()) };
            let policy = billing::jobs::QueuePolicy::default_for(Reconcile::QUEUE);
            let job = outbox::enqueue(&db, &run, &policy).await?;
            serde_json::json!({"jobId": job.job_id})
        }
        _ => bail!(
            "usage: tollgate-admin report | dead-jobs | requeue <job id> | requeue-dead | reconcile | queues | pause <queue> | resume <queue>"
        ),
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
