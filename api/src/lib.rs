//! Tollgate's HTTP API. Handlers are thin: they authenticate, validate, call a domain
//! function in `billing`, and enqueue jobs. Nothing here calls Stripe or the chain.

pub mod auth;
pub mod client_limits;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod ingest;
pub mod jobs;
pub mod key_cache;
pub mod pages;
pub mod plan_cache;
pub mod routes;
pub mod services;
pub mod state;
pub mod surfaces;
pub mod told_facts;
pub mod validate;

use anyhow::Context as _;
use platform::config::Settings;
use state::AppState;
use std::sync::Arc;

/// Binds `BIND_ADDR` and serves until SIGTERM or Ctrl-C, then drains open requests.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.bind_addr)
        .await
        .with_context(|| format!("binding {}", settings.bind_addr))?;
    let state = AppState::connect(Arc::new(settings)).await?;
    if let Some(addr) = state.settings.metrics_addr {
        tokio::spawn(platform::metrics::serve(addr, state.db.clone()));
    }
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    // The peer address keys the per-client limits of the public routes.
    let app = surfaces::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown requested: draining requests");
}
