//! Payment providers' webhooks. They read their own body, so an oversized delivery is a 400
//! (what Stripe expects for any rejected delivery) rather than the generic 413; each sender
//! address is rate limited.

use super::{Routes, finish};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::webhooks;
use axum::extract::DefaultBodyLimit;
use platform::config::Settings;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(settings: &Settings) -> Routes {
    let routes = OpenApiRouter::new()
        .routes(routes!(webhooks::stripe))
        .routes(routes!(webhooks::stripe_legacy_path))
        .routes(routes!(webhooks::creem))
        .layer(DefaultBodyLimit::disable());
    let mut routes = ClientLimit::per_second(settings.webhook_rate_per_second).apply(routes);
    super::document::errors_of(routes.get_openapi_mut(), super::document::Access::Signed);
    finish(routes, "webhooks", Envelope::Success, settings)
}
