//! Prometheus metrics through the `metrics` facade and its Prometheus exporter (which
//! escapes label values and writes the text format): a few process-local counters and
//! histograms, plus gauges read from the database at scrape time (queue depth and age, dead
//! jobs, ledger totals, the last reconciliation's discrepancies) so every process reports
//! the same shared truth.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use entities::{JobQueue, JobStatus};
use metrics::Label;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Iterable, Statement};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// Upper bounds of the job latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

/// This process's recorder, installed on first use.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(k, v)| Label::new(k.to_string(), v.to_string())).collect()
}

/// Adds one to a counter.
pub fn inc(name: &'static str, pairs: &[(&str, &str)]) {
    if handle().is_some() {
        metrics::counter!(name, labels(pairs)).increment(1);
    }
}

/// Records a duration in a histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    if handle().is_some() {
        metrics::histogram!(name, labels(pairs)).record(seconds);
    }
}

#[derive(FromQueryResult)]
struct QueueRow {
    queue: JobQueue,
    status: JobStatus,
    n: i64,
    oldest: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(FromQueryResult)]
struct LedgerRow {
    kind: String,
    total: i64,
}

/// The queue gauges: only unfinished and dead jobs, each read through its partial index
/// (`jobs_open_idx`, `jobs_dead_idx`), so a scrape never walks the history of done jobs.
pub const QUEUE_GAUGES_SQL: &str = "SELECT queue, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs \
     WHERE finished_at IS NULL GROUP BY queue, status \
     UNION ALL SELECT queue, 'dead' AS status, COUNT(*) AS n, NULL AS oldest FROM jobs \
     WHERE dead_at IS NOT NULL GROUP BY queue";

/// Sets the shared gauges from the database. Every queue and unfinished status gets a value
/// (0 when it has no jobs), so a series that emptied reads 0 rather than its last value.
async fn read_gauges<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let rows = QueueRow::find_by_statement(Statement::from_string(backend, QUEUE_GAUGES_SQL)).all(db).await?;
    let now = chrono::Utc::now();
    for queue in JobQueue::iter() {
        for status in JobStatus::iter().filter(|s| *s != JobStatus::Done) {
            let row = rows.iter().find(|r| r.queue == queue && r.status == status);
            let pairs = [("queue", queue.as_str()), ("status", status.as_str())];
            metrics::gauge!("tollgate_queue_jobs", labels(&pairs)).set(row.map_or(0, |r| r.n) as f64);
            if status != JobStatus::Dead {
                let age = row.and_then(|r| r.oldest).map_or(0, |t| (now - t).num_seconds().max(0));
                metrics::gauge!("tollgate_queue_oldest_age_seconds", labels(&pairs)).set(age as f64);
            }
        }
    }
    let dead: i64 = rows.iter().filter(|r| r.status == JobStatus::Dead).map(|r| r.n).sum();
    metrics::gauge!("tollgate_dead_jobs").set(dead as f64);
    let ledger = LedgerRow::find_by_statement(Statement::from_string(
        backend,
        "SELECT kind, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total FROM ledger_accounts GROUP BY kind",
    ))
    .all(db)
    .await?;
    for r in &ledger {
        metrics::gauge!("tollgate_ledger_balance_micros", labels(&[("kind", &r.kind)])).set(r.total as f64);
    }
    let last = billing::reconcile::last_run(db).await.map_err(|e| DbErr::Custom(e.to_string()))?;
    let discrepancies = last.and_then(|(_, report)| report).map_or(0, |r| r.discrepancies);
    metrics::gauge!("tollgate_reconciliation_discrepancies").set(discrepancies as f64);
    Ok(())
}

/// Everything, as Prometheus reads it.
pub async fn render<C: ConnectionTrait>(db: &C) -> Result<String, DbErr> {
    let Some(handle) = handle() else { return Ok(String::new()) };
    read_gauges(db).await?;
    Ok(handle.render())
}

async fn scrape(State(db): State<DatabaseConnection>) -> Response {
    match render(&db).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves `/metrics` without credentials on an internal address (`METRICS_ADDR`, which
/// the operator keeps off the public network) until the process ends.
pub async fn serve(addr: SocketAddr, db: DatabaseConnection) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot bind METRICS_ADDR; metrics not served");
            return;
        }
    };
    tracing::info!(addr = %listener.local_addr().map_or(addr, |a| a), "metrics listening");
    let app = Router::new().route("/metrics", get(scrape)).with_state(db);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_histograms_have_buckets() {
        inc("tollgate_test_escape_total", &[("value", "a\"b\\c\nd")]);
        observe("tollgate_test_seconds", &[("queue", "checkout")], 0.02);
        let text = handle().expect("recorder").render();
        assert!(text.contains(r#"tollgate_test_escape_total{value="a\"b\\c\nd"} 1"#), "{text}");
        assert!(text.contains(r#"tollgate_test_seconds_bucket{queue="checkout",le="0.025"} 1"#), "{text}");
        assert!(text.contains(r#"tollgate_test_seconds_bucket{queue="checkout",le="0.01"} 0"#), "{text}");
    }
}
