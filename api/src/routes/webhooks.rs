//! `POST /payment/webhook/stripe` and `POST /payment/webhook/creem` (credits API): verify, store
//! in the inbox with its job, answer 200 fast. The event is applied by the worker.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use billing::stripe::inbox::{EventHead, Incoming};
use billing::stripe::signature;
/// A Stripe event as delivered (the fields Tollgate reads first; the rest is Stripe's).
/// The signature covers the raw bytes, so the body is verified before it is parsed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the document's view of Stripe's payload
pub struct StripeEvent {
    #[schema(example = "evt_1NG8Du2eZvKYlo2CUI79vXWy")]
    id: String,
    #[schema(rename = "type", example = "checkout.session.completed")]
    kind: String,
    created: i64,
    livemode: bool,
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

/// The acknowledgement Stripe gets for a stored (or already stored) event.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
}

/// Receive a Stripe event.
#[utoipa::path(
    post,
    path = "/payment/webhook/stripe",
    request_body(content = StripeEvent, description = "The raw Stripe event, signed in the Stripe-Signature header"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256>`")),
    responses((status = 200, description = "Stored", body = Received), (status = 400, description = "Bad signature or payload"))
)]
pub async fn stripe(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Received>, ApiError> {
    let res = receive(&state, &headers, body).await;
    platform::metrics::inc("tollgate_webhooks_total", &[("outcome", outcome(&res))]);
    res.map(|_| Json(Received { received: true }))
}

/// What became of a delivery, for the webhook counters.
fn outcome(res: &Result<bool, ApiError>) -> &'static str {
    match res {
        Ok(true) => "stored",
        Ok(false) => "duplicate",
        Err(e) if e.status == StatusCode::BAD_REQUEST => "rejected",
        Err(_) => "failed",
    }
}

/// The same receiver at the path the billing API documents.
#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    request_body(content = StripeEvent, description = "The raw Stripe event, signed in the Stripe-Signature header"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256>`")),
    responses((status = 200, description = "Stored", body = Received), (status = 400, description = "Bad signature or payload"))
)]
pub async fn stripe_legacy_path(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Received>, ApiError> {
    stripe(state, headers, body).await
}

/// Verifies and stores one delivery; whether it was new.
async fn receive(state: &AppState, headers: &HeaderMap, body: Body) -> Result<bool, ApiError> {
    let settings = &state.settings;
    let raw = to_bytes(body, settings.max_body_bytes)
        .await
        .map_err(|_| ApiError::bad_request("payload_too_large", "webhook body exceeds the size limit"))?;
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let tolerance = settings.webhook_tolerance.as_secs() as i64;
    signature::verify(header, &raw, settings.stripe_webhook_secret.expose(), now, tolerance).map_err(|e| {
        tracing::info!(reason = %e, "webhook rejected");
        ApiError::bad_request("invalid_signature", e.to_string())
    })?;
    let head = EventHead::parse(&raw).map_err(|e| ApiError::bad_request("invalid_payload", e.to_string()))?;
    let raw =
        String::from_utf8(raw.to_vec()).map_err(|_| ApiError::bad_request("invalid_payload", "event is not UTF-8"))?;
    let event_id = head.id.clone();
    let event_type = head.event_type.clone();
    // Nothing is acknowledged that is not durable: if the inbox cannot be written, Stripe
    // gets a 503 and delivers the event again later.
    let stored = state.inbox.store(Incoming { head, raw }).await.map_err(|e| {
        tracing::error!(error = %e, event = %event_id, "cannot store webhook");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable; retry later")
    })?;
    tracing::info!(event = %event_id, %event_type, duplicate = !stored.new_event, "webhook stored");
    Ok(stored.new_event)
}

/// A Creem event as delivered (the fields Tollgate reads first; the rest is Creem's).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // the document's view of Creem's payload
pub struct CreemEvent {
    #[schema(example = "evt_5WHHcZPv7VS0YUsberIuOz")]
    id: String,
    #[schema(rename = "eventType", example = "checkout.completed")]
    event_type: String,
    /// Milliseconds since the epoch.
    created_at: i64,
    #[schema(value_type = Object)]
    object: serde_json::Value,
}

/// Receive a Creem event. Creem signs the raw body (no timestamp): a replayed delivery is
/// stored once by its event id, and one older than the inbox keeps events is refused.
#[utoipa::path(
    post,
    path = "/payment/webhook/creem",
    request_body(content = CreemEvent, description = "The raw Creem event, signed in the creem-signature header"),
    params(("creem-signature" = String, Header, description = "hex HMAC-SHA256 of the raw body under the webhook secret")),
    responses((status = 200, description = "Stored", body = Received), (status = 400, description = "Bad signature or payload"))
)]
pub async fn creem(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Received>, ApiError> {
    let res = receive_creem(&state, &headers, body).await;
    platform::metrics::inc("tollgate_creem_webhooks_total", &[("outcome", outcome(&res))]);
    res.map(|_| Json(Received { received: true }))
}

async fn receive_creem(state: &AppState, headers: &HeaderMap, body: Body) -> Result<bool, ApiError> {
    use billing::creem::{events::EventHead, signature as creem_signature};
    let settings = &state.settings;
    let raw = to_bytes(body, settings.max_body_bytes)
        .await
        .map_err(|_| ApiError::bad_request("payload_too_large", "webhook body exceeds the size limit"))?;
    let secret = settings.creem.webhook_secret.expose();
    if secret.is_empty() {
        return Err(ApiError::bad_request("not_configured", "Creem webhooks are not configured on this server"));
    }
    let header = headers.get("creem-signature").and_then(|v| v.to_str().ok());
    creem_signature::verify(header, &raw, secret).map_err(|e| {
        tracing::info!(reason = %e, "Creem webhook rejected");
        ApiError::bad_request("invalid_signature", e.to_string())
    })?;
    let head = EventHead::parse(&raw).map_err(|e| ApiError::bad_request("invalid_payload", e))?;
    // The inbox forgets events after its retention window; one older than that could be a
    // replay it can no longer recognise (its effects are keyed anyway), so it is refused.
    let oldest =
        chrono::Utc::now() - chrono::Duration::from_std(settings.retention.inbox).unwrap_or(chrono::Duration::MAX);
    if head.created_at < oldest.timestamp_millis() {
        return Err(ApiError::bad_request("stale_event", "the event is older than the inbox keeps events"));
    }
    let raw =
        String::from_utf8(raw.to_vec()).map_err(|_| ApiError::bad_request("invalid_payload", "event is not UTF-8"))?;
    let policy = settings.queue(billing::jobs::JobQueue::CreemEvent);
    let stored = billing::creem::inbox::store(&state.db, &head, raw, &policy).await.map_err(|e| {
        tracing::error!(error = %e, event = %head.id, "cannot store Creem webhook");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "temporarily unavailable; retry later")
    })?;
    if let Some(job) = stored.new_job {
        state.wake_worker(billing::jobs::JobQueue::CreemEvent, job).await;
    }
    tracing::info!(event = %head.id, event_type = %head.event_type, duplicate = !stored.new_event, "Creem webhook stored");
    Ok(stored.new_event)
}
