//! The gateway's routes: verify a key, report usage. They take the service token, act for
//! no account, and accept large usage batches.

use super::{Routes, finish};
use crate::error::Envelope;
use crate::routes::{usage, verify};
use axum::extract::DefaultBodyLimit;
use platform::config::Settings;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(settings: &Settings) -> Routes {
    let mut routes = OpenApiRouter::new()
        .routes(routes!(verify::verify))
        .routes(routes!(usage::ingest))
        .layer(DefaultBodyLimit::max(usage::MAX_BODY_BYTES));
    super::document::errors_of(routes.get_openapi_mut(), super::document::Access::Service);
    finish(routes, "gateway", Envelope::Flat, settings)
}
