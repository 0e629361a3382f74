//! `Idempotency-Key` on mutating routes (see `billing::idempotency` for the rules).

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use billing::idempotency::{self, Begin, Sealer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";

/// What is stored for a response: our error (re-rendered per surface on replay) or a body.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Stored {
    Error { code: String, message: String, details: Option<Value> },
    Body { body: String },
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_owned)) else {
        return Ok(next.run(req).await);
    };
    let key = key.map_err(|_| ApiError::bad_request("invalid_request", "Idempotency-Key must be visible ASCII"))?;
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::bad_request("invalid_request", "Idempotency-Key must be 1 to 255 characters"));
    }
    let scope =
        req.extensions().get::<Principal>().map(|p| p.account_id.to_string()).unwrap_or_else(|| "anonymous".into());
    let sealer = Sealer::new(state.settings.jwt_secret.expose().as_bytes(), &scope, &key);
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, state.settings.max_body_bytes)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body too large"))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(parts.uri.path());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash = hex::encode(hasher.finalize());

    match idempotency::begin(&state.db, &scope, &sealer.key_hash, &hash).await? {
        Begin::Mismatch => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )),
        Begin::InFlight => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed",
        )),
        Begin::Replay { status, body } => Ok(match sealer.open(&body) {
            Some(text) => replay(status, &text),
            // Sealed under a server secret that has since been rotated.
            None => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_record_unreadable",
                "the first response to this Idempotency-Key can no longer be replayed; use a new key",
            )
            .into_response(),
        }),
        Begin::Fresh(id) => {
            let res = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            if res.status().is_server_error() {
                idempotency::release(&state.db, id).await?;
                return Ok(res);
            }
            let status = res.status().as_u16();
            let (res_parts, res_body) = res.into_parts();
            let stored = match res_parts.extensions.get::<ApiError>() {
                Some(e) => {
                    Stored::Error { code: e.code.to_string(), message: e.message.clone(), details: e.details.clone() }
                }
                None => {
                    let bytes = to_bytes(res_body, usize::MAX).await.map_err(ApiError::internal)?;
                    Stored::Body { body: String::from_utf8_lossy(&bytes).into_owned() }
                }
            };
            let text = serde_json::to_string(&stored).map_err(ApiError::internal)?;
            idempotency::finish(&state.db, id, status, sealer.seal(&text)).await?;
            Ok(replay_stored(status, stored, false))
        }
    }
}

fn replay(status: u16, text: &str) -> Response {
    match serde_json::from_str::<Stored>(text) {
        Ok(stored) => replay_stored(status, stored, true),
        Err(e) => ApiError::internal(format!("unreadable idempotency record: {e}")).into_response(),
    }
}

fn replay_stored(status: u16, stored: Stored, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut res = match stored {
        Stored::Error { code, message, details } => {
            let mut e = ApiError::new(status, code, message);
            e.details = details;
            e.into_response()
        }
        Stored::Body { body } => {
            let mut res = (status, body).into_response();
            res.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res
        }
    };
    if replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}
