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
use utoipa_axum::router::OpenApiRouter;

type Config = tower_governor::governor::GovernorConfig<
    tower_governor::key_extractor::PeerIpKeyExtractor,
    governor::middleware::NoOpMiddleware,
>;

/// One per-client limit, shared by every route it is applied to: a client's requests to
/// any of them draw from the same bucket.
#[derive(Clone)]
pub struct ClientLimit(Option<Arc<Config>>);

impl ClientLimit {
    /// A token bucket of `rate` a second per client, bursts of twice that, and a task that
    /// forgets idle clients.
    pub fn per_second(rate: u32) -> ClientLimit {
        let rate = rate.max(1);
        let mut builder = GovernorConfigBuilder::default();
        builder.per_nanosecond(1_000_000_000 / u64::from(rate)).burst_size(rate.saturating_mul(2));
        // Both are non-zero, so the builder always gives a config.
        let Some(config) = builder.finish() else { return ClientLimit(None) };
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
        ClientLimit(Some(config))
    }

    /// Wraps a surface's `routes` in this limit.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, routes: OpenApiRouter<S>) -> OpenApiRouter<S> {
        match &self.0 {
            Some(config) => routes.layer(GovernorLayer::new(config.clone()).error_handler(too_many)),
            None => routes,
        }
    }

    /// [`ClientLimit::apply`] for a plain router (the docs page).
    pub fn apply_router<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        match &self.0 {
            Some(config) => router.layer(GovernorLayer::new(config.clone()).error_handler(too_many)),
            None => router,
        }
    }
}

fn too_many(_: tower_governor::GovernorError) -> axum::http::Response<Body> {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this client; slow down")
        .into_response()
}
