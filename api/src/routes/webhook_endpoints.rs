//! Webhooks you receive (key-tier API, `/api/v1/webhooks`): an account registers the
//! endpoints of its own app that hear its events, within its tier's allowance (Free none,
//! Starter 3, Growth 10, Enterprise 50). The signing secret is in the creating (or rotating)
//! response only. Every route is scoped to the caller's account: another account's ids
//! answer 404.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::{ApiJson, OptionalJson};
use crate::routes::keys::tier_name;
use crate::state::AppState;
use crate::validate::Fields;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use billing::webhooks::endpoints::{self, CreateError, NewEndpoint};
use billing::webhooks::{EventType, target};
use chrono::{DateTime, Utc};
use entities::{KeyTier, WebhookEndpointStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// An endpoint; `secret` only when it was just made or rotated.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    id: Uuid,
    url: String,
    description: String,
    /// The types it hears; empty: every type.
    event_types: Vec<EventType>,
    status: WebhookEndpointStatus,
    /// Why it was disabled.
    disabled_reason: Option<String>,
    /// Since when every delivery to it has failed.
    failing_since: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// The `whsec_…` signing secret: in this response only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookEndpoint {
    fn of(e: entities::webhook_endpoints::Model, secret: Option<String>) -> WebhookEndpoint {
        WebhookEndpoint {
            id: e.id,
            event_types: endpoints::event_types(&e),
            url: e.url,
            description: e.description,
            status: e.status,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
            secret,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookEndpointList {
    data: Vec<WebhookEndpoint>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointRequest {
    /// Where events are POSTed: a public http(s) URL of at most 2,000 characters.
    #[schema(example = "https://app.example.com/hooks/tollgate", max_length = 2000, required = true)]
    url: Option<String>,
    /// The types to hear (the catalog in the README); absent or empty: every type.
    #[schema(value_type = Option<Vec<EventType>>, max_items = 12)]
    event_types: Option<Vec<String>>,
    #[schema(max_length = 500, pattern = "^[^\\x00]*$")]
    description: Option<String>,
}

/// Checks a target: its shape, then every address its host resolves to.
async fn check_target(state: &AppState, url: &str) -> Result<(), String> {
    let t = target::parse(url).map_err(|e| e.to_string())?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .map_err(|_| target::Refused::Unresolved.to_string())?
        .collect();
    target::check_addresses(&addrs, state.settings.webhooks.allow_private_targets).map_err(|e| e.to_string())
}

/// Register an endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/api/v1/webhooks", security(("bearer" = [])), request_body = WebhookEndpointRequest,
    responses((status = 201, body = WebhookEndpoint),
    (status = 403, description = "The tier allows no more endpoints (`feature_not_available`, with the plan that allows more)")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<WebhookEndpointRequest>,
) -> Result<(StatusCode, Json<WebhookEndpoint>), ApiError> {
    principal.require(Scope::Write)?;
    let mut f = Fields::default();
    let url = match req.url.as_deref() {
        None | Some("") => f.bad("url", "required"),
        Some(u) => match check_target(&state, u).await {
            Ok(()) => Some(u.to_owned()),
            Err(why) => f.bad("url", &why),
        },
    };
    let description = req.description.unwrap_or_default();
    if description.chars().count() > 500 || !crate::validate::storable(&description) {
        f.bad::<()>("description", "at most 500 characters, no NUL");
    }
    let mut types = Vec::new();
    for t in req.event_types.unwrap_or_default() {
        match EventType::parse(&t) {
            Some(kind) if !types.contains(&kind) => types.push(kind),
            Some(_) => {}
            None => {
                f.bad::<()>("eventTypes", "event types of the catalog (payment.succeeded, credits.low, …)");
            }
        }
    }
    f.finish()?;
    let url = url.ok_or_else(|| ApiError::internal("validated url missing"))?;
    let secret_key = state.settings.jwt_secret.expose().as_bytes();
    let new = NewEndpoint { url, description, event_types: types };
    match endpoints::create(&state.db, secret_key, principal.account_id, new).await {
        Ok((row, secret)) => Ok((StatusCode::CREATED, Json(WebhookEndpoint::of(row, Some(secret))))),
        Err(CreateError::Limit { tier, allowed, used }) => {
            let next = endpoints::next_tier(tier);
            let plan = match next {
                KeyTier::Starter => json!("starter"),
                KeyTier::Growth => json!("growth"),
                _ => Value::Null,
            };
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "feature_not_available",
                format!(
                    "the {} tier allows {allowed} webhook endpoint(s); {} allows {}",
                    tier_name(tier),
                    tier_name(next),
                    endpoints::allowance(next)
                ),
            )
            .with_details(json!({
                "resource": "webhooks", "limit": allowed, "used": used, "currentTier": tier_name(tier),
                "requiredTier": tier_name(next), "planId": plan,
                "contact": if next == KeyTier::Enterprise { json!("sales") } else { Value::Null },
            })))
        }
        Err(CreateError::Domain(e)) => Err(e.into()),
    }
}

/// The account's endpoints (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", security(("bearer" = [])), responses((status = 200, body = WebhookEndpointList)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<WebhookEndpointList>, ApiError> {
    principal.require(Scope::Read)?;
    let rows = endpoints::list(&state.db, principal.account_id).await?;
    Ok(Json(WebhookEndpointList { data: rows.into_iter().map(|e| WebhookEndpoint::of(e, None)).collect() }))
}

async fn owned(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> Result<entities::webhook_endpoints::Model, ApiError> {
    endpoints::find(&state.db, principal.account_id, id).await?.ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// One of the account's endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, description = "Not one of the account's endpoints")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(Json(WebhookEndpoint::of(owned(&state, &principal, id).await?, None)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookEndpointDeleted {
    id: Uuid,
    deleted: bool,
}

/// Delete an endpoint; deliveries queued for it end unsent.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointDeleted), (status = 404, description = "Not one of the account's endpoints")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookEndpointDeleted>, ApiError> {
    principal.require(Scope::Write)?;
    if !endpoints::delete(&state.db, principal.account_id, id).await? {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    Ok(Json(WebhookEndpointDeleted { id, deleted: true }))
}

/// A new signing secret, in this response only; the old one stops signing at once.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, description = "Not one of the account's endpoints")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    principal.require(Scope::Write)?;
    let secret_key = state.settings.jwt_secret.expose().as_bytes();
    let (row, secret) = endpoints::rotate(&state.db, secret_key, principal.account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(Json(WebhookEndpoint::of(row, Some(secret))))
}

/// Turn a disabled endpoint back on.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, description = "Not one of the account's endpoints")))]
pub async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    principal.require(Scope::Write)?;
    let row = endpoints::enable(&state.db, principal.account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(Json(WebhookEndpoint::of(row, None)))
}

/// One delivery attempt.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    event_id: String,
    /// The endpoint's HTTP status, when it answered.
    status_code: Option<i32>,
    latency_ms: i64,
    /// The start of its answer (1 KiB at most).
    response: Option<String>,
    /// Why no answer came.
    error: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookAttemptList {
    data: Vec<WebhookAttempt>,
}

/// The endpoint's latest 100 delivery attempts, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/attempts", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookAttemptList), (status = 404, description = "Not one of the account's endpoints")))]
pub async fn attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookAttemptList>, ApiError> {
    principal.require(Scope::Read)?;
    let endpoint = owned(&state, &principal, id).await?;
    let rows = endpoints::attempts(&state.db, endpoint.id, 100).await?;
    let data = rows
        .into_iter()
        .map(|a| WebhookAttempt {
            event_id: a.event_id,
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            response: a.response,
            error: a.error,
            created_at: a.created_at,
        })
        .collect();
    Ok(Json(WebhookAttemptList { data }))
}

/// An event as the account's endpoints receive it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: String,
    created_at: DateTime<Utc>,
    /// The body delivered: `{id, type, timestamp, data}`.
    #[schema(value_type = Object)]
    payload: Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookEventList {
    data: Vec<WebhookEvent>,
}

/// The account's latest 100 events, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/events", security(("bearer" = [])), responses((status = 200, body = WebhookEventList)))]
pub async fn events(State(state): State<AppState>, principal: Principal) -> Result<Json<WebhookEventList>, ApiError> {
    principal.require(Scope::Read)?;
    let rows = endpoints::events(&state.db, principal.account_id, 100).await?;
    let data = rows
        .into_iter()
        .map(|e| WebhookEvent {
            payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            id: e.id,
            kind: e.event_type,
            created_at: e.created_at,
        })
        .collect();
    Ok(Json(WebhookEventList { data }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRedeliverRequest {
    /// The event to send again (`msg_…`).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 255, pattern = "^[^\\x00]*$")]
    event_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRedelivery {
    event_id: String,
    endpoint_id: Uuid,
    /// The delivery job.
    job_id: Uuid,
}

/// Send one of the account's events to this endpoint again (even a disabled one).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/redeliver", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = WebhookRedeliverRequest,
    responses((status = 202, body = WebhookRedelivery), (status = 404, description = "Not the account's endpoint or event")))]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    OptionalJson(req): OptionalJson<WebhookRedeliverRequest>,
) -> Result<(StatusCode, Json<WebhookRedelivery>), ApiError> {
    principal.require(Scope::Write)?;
    let Some(event_id) = req.event_id.filter(|e| !e.is_empty() && e.len() <= 255 && crate::validate::storable(e))
    else {
        return Err(
            ApiError::bad_request("validation_error", "eventId: required").with_details(json!({"eventId": "required"}))
        );
    };
    let job_id = endpoints::redeliver(&state.db, principal.account_id, id, &event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint or event"))?;
    state.wake_worker(billing::jobs::JobQueue::WebhookDelivery, job_id).await;
    Ok((StatusCode::ACCEPTED, Json(WebhookRedelivery { event_id, endpoint_id: id, job_id })))
}

/// What the account's webhooks are told about its balance.
#[derive(Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSettings {
    /// `credits.low` is sent when the balance falls below this many credits; null: never.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    credits_low_threshold: Option<i64>,
}

/// The account's webhook settings.
#[utoipa::path(get, path = "/api/v1/webhooks/settings", security(("bearer" = [])), responses((status = 200, body = WebhookSettings)))]
pub async fn settings(State(state): State<AppState>, principal: Principal) -> Result<Json<WebhookSettings>, ApiError> {
    principal.require(Scope::Read)?;
    let account = billing::accounts::find(&state.db, principal.account_id.into())
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(WebhookSettings { credits_low_threshold: account.credits_low_threshold }))
}

/// Set the balance below which the account hears `credits.low`.
#[utoipa::path(put, path = "/api/v1/webhooks/settings", security(("bearer" = [])), request_body = WebhookSettings,
    responses((status = 200, body = WebhookSettings)))]
pub async fn update_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<WebhookSettings>,
) -> Result<Json<WebhookSettings>, ApiError> {
    principal.require(Scope::Write)?;
    if req.credits_low_threshold.is_some_and(|t| !(1..=1_000_000_000_000).contains(&t)) {
        return Err(ApiError::bad_request("validation_error", "creditsLowThreshold: 1 to 10^12 credits, or null")
            .with_details(json!({"creditsLowThreshold": "1 to 10^12 credits, or null"})));
    }
    endpoints::set_credits_low_threshold(&state.db, principal.account_id, req.credits_low_threshold).await?;
    Ok(Json(req))
}
