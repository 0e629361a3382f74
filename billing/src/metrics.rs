//! Prometheus metrics, in the text exposition format, without a metrics framework: a few
//! process-local counters and histograms, plus gauges read from the database at scrape
//! time (queue depth and age, dead jobs, ledger totals, the last reconciliation's
//! discrepancies) so every process reports the same shared truth.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use entities::{JobQueue, JobStatus};
use sea_orm::DatabaseConnection;
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Upper bounds of the job latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Registry {
    /// (name, labels) → value
    counters: BTreeMap<(&'static str, String), u64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { counters: BTreeMap::new(), histograms: BTreeMap::new() });

fn labels(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")
}

/// Adds one to a counter.
pub fn inc(name: &'static str, pairs: &[(&str, &str)]) {
    if let Ok(mut r) = REGISTRY.lock() {
        *r.counters.entry((name, labels(pairs))).or_default() += 1;
    }
}

/// Records a duration in a histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], seconds: f64) {
    if let Ok(mut r) = REGISTRY.lock() {
        let h = r.histograms.entry((name, labels(pairs))).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}

fn series(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn local(out: &mut String) {
    let Ok(r) = REGISTRY.lock() else { return };
    let mut last = "";
    for ((name, labels), v) in &r.counters {
        if *name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        series(out, name, labels, v);
    }
    for ((name, labels), h) in &r.histograms {
        let _ = writeln!(out, "# TYPE {name} histogram");
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in BUCKETS.iter().enumerate() {
            series(out, &format!("{name}_bucket"), &format!("{labels}{sep}le=\"{le}\""), h.counts[i]);
        }
        series(out, &format!("{name}_bucket"), &format!("{labels}{sep}le=\"+Inf\""), h.count);
        series(out, &format!("{name}_sum"), labels, h.sum);
        series(out, &format!("{name}_count"), labels, h.count);
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

/// The queue gauges: only unfinished jobs, read through their partial index
/// (`jobs_unfinished_idx`), so a scrape never walks the history of done jobs.
pub const QUEUE_GAUGES_SQL: &str = "SELECT queue, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs \
     WHERE status <> 'done' GROUP BY queue, status";

/// Everything, as Prometheus reads it.
pub async fn render<C: ConnectionTrait>(db: &C) -> Result<String, DbErr> {
    let mut out = String::new();
    local(&mut out);
    let backend = db.get_database_backend();
    let rows = QueueRow::find_by_statement(Statement::from_string(backend, QUEUE_GAUGES_SQL)).all(db).await?;
    let now = chrono::Utc::now();
    let _ = writeln!(out, "# TYPE tollgate_queue_jobs gauge");
    for r in &rows {
        series(
            &mut out,
            "tollgate_queue_jobs",
            &labels(&[("queue", r.queue.as_str()), ("status", r.status.as_str())]),
            r.n,
        );
    }
    let _ = writeln!(out, "# TYPE tollgate_queue_oldest_age_seconds gauge");
    for r in rows.iter().filter(|r| r.status != JobStatus::Dead) {
        let age = r.oldest.map_or(0, |t| (now - t).num_seconds().max(0));
        series(
            &mut out,
            "tollgate_queue_oldest_age_seconds",
            &labels(&[("queue", r.queue.as_str()), ("status", r.status.as_str())]),
            age,
        );
    }
    let dead: i64 = rows.iter().filter(|r| r.status == JobStatus::Dead).map(|r| r.n).sum();
    let _ = writeln!(out, "# TYPE tollgate_dead_jobs gauge");
    series(&mut out, "tollgate_dead_jobs", "", dead);
    let ledger = LedgerRow::find_by_statement(Statement::from_string(
        backend,
        "SELECT kind, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total FROM ledger_accounts GROUP BY kind",
    ))
    .all(db)
    .await?;
    let _ = writeln!(out, "# TYPE tollgate_ledger_balance_micros gauge");
    for r in &ledger {
        series(&mut out, "tollgate_ledger_balance_micros", &labels(&[("kind", &r.kind)]), r.total);
    }
    let last = crate::jobs::outbox::last_result(db, JobQueue::Reconcile, "reconcile:").await?;
    let discrepancies = last.as_ref().and_then(|r| r["discrepancies"].as_i64()).unwrap_or(0);
    let _ = writeln!(out, "# TYPE tollgate_reconciliation_discrepancies gauge");
    series(&mut out, "tollgate_reconciliation_discrepancies", "", discrepancies);
    Ok(out)
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
