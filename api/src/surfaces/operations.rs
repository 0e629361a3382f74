//! What operators and tools call: probes, the metrics scrape, the document and its page.

use super::{Routes, finish};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::health;
use axum::Router;
use platform::config::Settings;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// Probes and the scrape: not rate limited (a load balancer and Prometheus call them).
pub fn routes(settings: &Settings) -> Routes {
    let mut routes = OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics));
    super::document::errors_of(routes.get_openapi_mut(), super::document::Access::Probe);
    finish(routes, "operations", Envelope::Success, settings)
}

/// `/openapi.json` and the interactive page at `/docs`. Swagger UI's files are compiled
/// into the binary (utoipa-swagger-ui's `vendored` feature), so the page works with no
/// internet: air-gapped deployments and this test machine included.
pub fn docs<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi, public: &ClientLimit) -> Router<S> {
    let ui: Router<S> = SwaggerUi::new("/docs").url("/openapi.json", doc).into();
    public.apply_router(ui)
}
