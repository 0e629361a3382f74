//! One error type for every handler, rendered in the envelope of the API surface the
//! route belongs to. Internal errors are opaque to clients and logged with their cause.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use billing::DomainError;
use serde_json::{Value, json};
use std::borrow::Cow;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    /// Structured extras: field errors, limit metadata.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid credentials")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// An opaque 500; the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(m) => ApiError::bad_request("invalid_request", m),
            DomainError::NotFound(what) => ApiError::not_found(what),
            DomainError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            DomainError::LimitReached { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            DomainError::InsufficientFunds => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "insufficient_credits", "insufficient credits")
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

/// The response carries the error as an extension; [`render`] writes the surface's body.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// The error envelopes of the API surfaces. Each surface picks one where it is built
/// (`crate::surfaces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// The billing, credits and admin APIs: `{success: false, error: {code, message}}`.
    Success,
    /// The key-tier API and the gateway (`/api/v1/...`): `{error, message, details}`.
    Flat,
    /// The subscription API (`/plans`, `/subscription`, `/entitlements`):
    /// `{error: {type, message, ...}}`.
    Typed,
}

impl Envelope {
    pub fn body(self, e: &ApiError) -> Value {
        match self {
            Envelope::Success => {
                let mut error = json!({"code": e.code, "message": e.message});
                if let Some(d) = &e.details {
                    error["details"] = d.clone();
                }
                json!({"success": false, "error": error})
            }
            Envelope::Flat => json!({"error": e.code, "message": e.message, "details": e.details}),
            Envelope::Typed => {
                let mut error = json!({"type": e.code.as_ref(), "message": e.message});
                if let Some(Value::Object(extra)) = &e.details {
                    for (k, v) in extra {
                        error[k] = v.clone();
                    }
                }
                json!({"error": error})
            }
        }
    }

    /// The error as a complete response in this envelope.
    pub fn error_response(self, e: &ApiError) -> Response {
        (e.status, Json(self.body(e))).into_response()
    }
}

/// Middleware, one per surface: renders every error response inside it — ours, axum's
/// rejections, the body limit's 413, the timeout's 408, a 405 — in the surface's envelope.
pub async fn render(State(envelope): State<Envelope>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let error = match res.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        None if res.status().is_client_error() || res.status().is_server_error() => {
            // Only bare framework responses get here (our errors carry the extension).
            let status = res.status();
            let code = match status {
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                StatusCode::REQUEST_TIMEOUT => "timeout",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                s if s.is_server_error() => "internal_error",
                _ => "bad_request",
            };
            ApiError::new(status, code, status.canonical_reason().unwrap_or("error"))
        }
        None => return res,
    };
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = Json(envelope.body(&error)).into_response();
    parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    Response::from_parts(parts, body.into_body())
}
