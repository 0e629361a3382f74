//! The billing API's retired routes, answered as its documentation says: the legacy flat plans are gone
//! (`GET /api/plans` lists none) and new subscriptions are pool time-block subscriptions
//! (`POST /api/billing/subscribe` is 410 Gone, pointing there).

use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use axum::Json;
use axum::http::StatusCode;

/// `GET /api/plans`: the legacy plan list, retired: always empty.
#[utoipa::path(get, path = "/api/plans", responses((status = 200, description = "`{success: true, data: []}`: the list is always empty", body = Envelope<Vec<crate::routes::plans::Plan>>)))]
pub async fn legacy_plans() -> Json<Envelope<Vec<crate::routes::plans::Plan>>> {
    ok(Vec::new())
}

/// `POST /api/billing/subscribe`: retired; subscribe to a pool's time blocks instead.
#[utoipa::path(post, path = "/api/billing/subscribe", responses((status = 410, description = "Retired: use POST /api/pools/{id}/subscribe")))]
pub async fn legacy_subscribe() -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "gone",
        "flat-plan subscriptions are retired: subscribe to pool time blocks with POST /api/pools/{id}/subscribe",
    )
}
