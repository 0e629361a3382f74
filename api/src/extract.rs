//! Extractors whose rejections use our error envelope.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON object body; a malformed body or a wrong field is a 400 in the route's envelope,
/// a body that is not `application/json` a 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "Content-Type must be application/json",
            ));
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
        // Every request body is an object. (serde would also read a struct from an array
        // of its fields in order, which no client means and the document does not allow.)
        if body.trim_ascii_start().first() != Some(&b'{') {
            return Err(ApiError::bad_request("invalid_request", "the body must be a JSON object"));
        }
        serde_json::from_slice(&body).map(ApiJson).map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))
    }
}

/// `application/json`, or any `+json` type, as axum's `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A JSON body that may be absent altogether (billing API's `POST /api/billing/cancel`, the subscription API's
/// `DELETE /subscription`): no body is `T::default()`, a malformed one a 400.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::new(r.status(), "invalid_request", r.body_text()))?;
        // No body, or `null` (what a client generated from the document sends for an
        // optional body), is the default.
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() || trimmed == b"null" {
            return Ok(OptionalJson(T::default()));
        }
        if trimmed.first() != Some(&b'{') {
            return Err(ApiError::bad_request("invalid_request", "the body must be a JSON object or empty"));
        }
        serde_json::from_slice(&body)
            .map(OptionalJson)
            .map_err(|e| ApiError::bad_request("invalid_request", e.to_string()))
    }
}

/// `deserialize_with` for an optional integer field: JSON Schema's `integer` includes
/// numbers written with a zero fraction (`3.0`), so they are accepted as the integer they
/// are; a real fraction or an out-of-range number is refused.
pub fn optional_integer<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::Deserialize as _;
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let whole = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => Some(i),
        // Within ±2^53 a float holds every integer exactly.
        (None, Some(f)) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => Some(f as i64),
        _ => None,
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{n} is not an integer in range")))
}

/// `deserialize_with` for a required integer field, read as [`optional_integer`] reads one.
pub fn integer<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    optional_integer(d)?.ok_or_else(|| D::Error::custom("an integer is required"))
}

/// `deserialize_with` for an optional non-negative query integer, documented as a
/// non-negative int64: anything past `i64` or below 0 is refused, as the document says.
pub fn non_negative<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    use serde::de::Error;
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(n) => u64::try_from(n).map(Some).map_err(|_| D::Error::custom(format!("{n} is negative"))),
    }
}
