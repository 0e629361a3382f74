//! Per-client rate limits on the routes anyone can call without a credential: the Stripe
//! webhook, the public plan lists, and the key-tier API's usage read by `X-API-Key`. Each client (peer
//! IP address) has a token bucket (tower_governor): `rate` a second, bursts of twice that.
//! Past it: 429 in the route's envelope. Behind a proxy every client shares the proxy's
//! address, so set the limits for the proxy, or rate limit at the proxy itself.

use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::sync::Arc;
use std::time::Duration;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;

/// Wraps `router` in a per-client limit of `rate` requests a second.
pub fn limit<S: Clone + Send + Sync + 'static>(router: Router<S>, rate: u32) -> Router<S> {
    let rate = rate.max(1);
    let mut builder = GovernorConfigBuilder::default();
    builder.per_nanosecond(1_000_000_000 / u64::from(rate)).burst_size(rate.saturating_mul(2));
    // Both are non-zero, so the builder always gives a config.
    let Some(config) = builder.finish() else { return router };
    let config = Arc::new(config);
    let limiter = config.limiter().clone();
    // Forget clients not seen lately, so random source addresses cannot grow the table.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
        }
    });
    router.layer(GovernorLayer::new(config).error_handler(|_| -> axum::http::Response<Body> {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this client; slow down")
            .into_response()
    }))
}
