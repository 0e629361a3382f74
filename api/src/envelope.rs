//! The success envelope of the billing, credits and admin APIs: `{success: true, data}`.
//! (Their errors are `crate::error::Envelope::Success`.)

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    success: bool,
    data: T,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Envelope { success: true, data }
    }
}

/// 200 `{success: true, data}`.
pub fn ok<T>(data: T) -> Json<Envelope<T>> {
    Json(Envelope::new(data))
}

/// 202 `{success: true, data}`: accepted, finished later.
pub fn accepted<T>(data: T) -> (StatusCode, Json<Envelope<T>>) {
    (StatusCode::ACCEPTED, ok(data))
}

/// 201 `{success: true, data}`.
pub fn created<T>(data: T) -> (StatusCode, Json<Envelope<T>>) {
    (StatusCode::CREATED, ok(data))
}

/// Stripe is slow: the order to poll (`GET /orders/{id}`).
#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PendingOrder {
    #[schema(value_type = uuid::Uuid)]
    order_id: billing::OrderId,
    #[schema(example = "pending")]
    status: &'static str,
}

/// 202 with the order to poll (`GET /orders/:id`).
pub fn pending_order(order_id: billing::OrderId) -> Response {
    accepted(PendingOrder { order_id, status: "pending" }).into_response()
}
