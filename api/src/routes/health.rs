//! Liveness and readiness.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    status: &'static str,
    #[schema(example = "ok")]
    database: &'static str,
    #[schema(example = "ok")]
    redis: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "The process is up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database and Redis answer.
#[utoipa::path(get, path = "/ready", responses((status = 200, description = "Ready", body = Ready), (status = 503, description = "A dependency is down")))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let db = state.db.ping().await;
    let redis = match tokio::time::timeout(std::time::Duration::from_secs(2), state.dispatcher.ping()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    if let Err(e) = &db {
        tracing::warn!(error = %e, "database not ready");
    }
    if let Err(e) = &redis {
        tracing::warn!(error = %e, "redis not ready");
    }
    if db.is_ok() && redis.is_ok() {
        Ok(Json(Ready { status: "ready", database: "ok", redis: "ok" }))
    } else {
        Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "a dependency is unavailable").with_details(
            json!({
                "database": if db.is_ok() { "ok" } else { "down" },
                "redis": if redis.is_ok() { "ok" } else { "down" },
            }),
        ))
    }
}

/// Prometheus metrics (text format): this process's counters and the shared gauges. They
/// tell revenue and outstanding credits, so on the public address they need
/// `Authorization: Bearer $METRICS_TOKEN`; with no token configured they are served only on
/// `METRICS_ADDR`, and here every caller gets 404.
#[utoipa::path(get, path = "/metrics", security(("bearer" = [])), responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain; version=0.0.4", body = String),
    (status = 401, description = "The bearer is not `METRICS_TOKEN`"),
    (status = 404, description = "No `METRICS_TOKEN` is configured: metrics are served on `METRICS_ADDR` only")))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.settings.metrics_token.is_empty() {
        return ApiError::not_found("metrics are served on METRICS_ADDR").into_response();
    }
    if !crate::auth::bearer_is(&headers, state.settings.metrics_token.expose()) {
        return ApiError::unauthorized().into_response();
    }
    match platform::metrics::render(&state.db).await {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => crate::error::ApiError::internal(e).into_response(),
    }
}
