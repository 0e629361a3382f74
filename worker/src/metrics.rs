//! The worker's `/metrics` (Prometheus), on `METRICS_ADDR` when it is set: this process's
//! job counters and latencies, and the gauges every process reads from the database.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use std::net::SocketAddr;

async fn metrics(State(db): State<DatabaseConnection>) -> Response {
    match billing::metrics::render(&db).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, db: DatabaseConnection) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot bind METRICS_ADDR; metrics not served");
            return;
        }
    };
    tracing::info!(addr = %listener.local_addr().map_or(addr, |a| a), "worker metrics listening");
    let app = Router::new().route("/metrics", get(metrics)).with_state(db);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}
