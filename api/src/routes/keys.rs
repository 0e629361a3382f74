//! API keys: 004's `POST /api/v1/billing/api-keys`, and 000's subscription and credit keys
//! with listing, rotation and revocation. A key is in the response once and never again.

use crate::auth::{Principal, Scope};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::credits::ok;
use crate::state::AppState;
use crate::validate::Fields;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use billing::api_keys::{self, NewKey, tier_limits};
use entities::{ApiKeyKind, KeyTier, PledgeStatus};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

fn key_json(k: &entities::api_keys::Model) -> Value {
    json!({
        "id": k.id, "name": k.name, "kind": k.kind, "prefix": k.prefix, "status": k.status, "tier": k.tier,
        "subscriptionId": k.subscription_id.or(k.pledge_id), "createdAt": k.created_at, "revokedAt": k.revoked_at,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierKeyRequest {
    organization_name: Option<Value>,
    contact_email: Option<Value>,
    tier: Option<Value>,
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|p| !p.is_empty())
        && !e.chars().any(char::is_whitespace)
}

fn parse_tier(t: &str) -> Option<KeyTier> {
    match t {
        "Free" => Some(KeyTier::Free),
        "Starter" => Some(KeyTier::Starter),
        "Growth" => Some(KeyTier::Growth),
        "Enterprise" => Some(KeyTier::Enterprise),
        _ => None,
    }
}

fn tier_name(t: KeyTier) -> &'static str {
    match t {
        KeyTier::Free => "Free",
        KeyTier::Starter => "Starter",
        KeyTier::Growth => "Growth",
        KeyTier::Enterprise => "Enterprise",
    }
}

/// 004: create an API key; every invalid field is named in `details`.
#[utoipa::path(post, path = "/api/v1/billing/api-keys", security(("bearer" = [])), responses((status = 201), (status = 400), (status = 403)))]
pub async fn create_tier_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<TierKeyRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let mut f = Fields::default();
    let org = f
        .required(
            "organizationName",
            req.organization_name.as_ref(),
            |o| (2..=200).contains(&o.trim().chars().count()),
            "must be 2–200 characters",
        )
        .map(|o| o.trim().to_owned());
    let email = f
        .required(
            "contactEmail",
            req.contact_email.as_ref(),
            |e| e.len() <= 320 && valid_email(e),
            "must be a valid email of at most 320 characters",
        )
        .map(str::to_owned);
    let tier = match &req.tier {
        None | Some(Value::Null) => Some(KeyTier::Free),
        Some(Value::String(t)) => parse_tier(t),
        Some(_) => None,
    };
    if tier.is_none() {
        f.bad::<()>("tier", "must be Free, Starter, Growth or Enterprise");
    }
    f.finish()?;
    let (Some(org), Some(email), Some(tier)) = (org, email, tier) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let entitled = api_keys::entitled_tier(&state.db, principal.account_id).await?;
    if api_keys::rank(tier) > api_keys::rank(entitled) {
        let plan = match tier {
            KeyTier::Starter => Some("starter"),
            KeyTier::Growth => Some("growth"),
            _ => None,
        };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "feature_not_available",
            format!("the {} tier needs a subscription: POST /api/v1/billing/checkout", tier_name(tier)),
        )
        .with_details(json!({"requiredTier": tier_name(tier), "currentTier": tier_name(entitled), "planId": plan})));
    }
    let (row, key) = api_keys::create_limited(
        &state.db,
        NewKey {
            account_id: principal.account_id,
            kind: ApiKeyKind::Tier,
            name: org.clone(),
            tier: Some(tier),
            subscription_id: None,
            pledge_id: None,
            organization_name: Some(org),
            contact_email: Some(email),
        },
        state.settings.max_keys_per_account,
    )
    .await?;
    let (rate, monthly) = tier_limits(tier);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": row.id, "tier": tier_name(tier), "rateLimit": rate, "monthlyQueryLimit": monthly,
            "createdAt": row.created_at, "apiKey": key,
            "note": "API key created. Use X-API-Key header to authenticate requests.",
        })),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionKeyRequest {
    subscription_id: Option<String>,
    name: Option<String>,
}

/// 000: a key for one of the caller's live subscriptions or paid pool pledges.
#[utoipa::path(post, path = "/api/keys/subscription", security(("bearer" = [])), responses((status = 201), (status = 400), (status = 404)))]
pub async fn create_subscription_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<SubscriptionKeyRequest>,
) -> Result<Response, ApiError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    principal.require(Scope::Write)?;
    let Some(id) = req.subscription_id.as_deref() else {
        return Err(ApiError::bad_request("invalid_request", "subscriptionId: required (from /api/billing/status)"));
    };
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found("subscription"))?;
    let name = req.name.unwrap_or_else(|| "subscription key".to_owned());
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("invalid_request", "name: 1–100 characters"));
    }
    let pledge = entities::pool_pledges::Entity::find_by_id(id)
        .filter(entities::pool_pledges::Column::AccountId.eq(principal.account_id))
        .one(&state.db)
        .await?;
    let (kind, subscription_id, pledge_id) = match pledge {
        Some(p) if matches!(p.status, PledgeStatus::Active | PledgeStatus::PendingKey) => {
            (ApiKeyKind::Pool, None, Some(p.id))
        }
        Some(_) => return Err(ApiError::bad_request("invalid_request", "subscriptionId: the pledge is not active")),
        None => {
            let subs = billing::subscriptions::current(&state.db, principal.account_id).await?;
            let now = chrono::Utc::now();
            match subs.iter().find(|(s, _)| s.id == id) {
                Some((s, _)) if billing::subscriptions::is_live(s, now) => (ApiKeyKind::Subscription, Some(s.id), None),
                Some(_) => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "subscriptionId: the subscription is not active",
                    ));
                }
                None => return Err(ApiError::not_found("subscription")),
            }
        }
    };
    let new = NewKey {
        account_id: principal.account_id,
        kind,
        name,
        tier: None,
        subscription_id,
        pledge_id,
        organization_name: None,
        contact_email: None,
    };
    let (row, key) = api_keys::create_limited(&state.db, new, state.settings.max_keys_per_account).await?;
    let mut body = key_json(&row);
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, ok(body)).into_response())
}

#[derive(Deserialize, Default)]
pub struct CreditKeyRequest {
    name: Option<String>,
}

/// 000: a credit key, drawing on the account's credits.
#[utoipa::path(post, path = "/api/keys/credit", security(("bearer" = [])), responses((status = 201)))]
pub async fn create_credit_key(
    State(state): State<AppState>,
    principal: Principal,
    crate::extract::OptionalJson(req): crate::extract::OptionalJson<CreditKeyRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let name = req.name.unwrap_or_else(|| "credit key".to_owned());
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("invalid_request", "name: 1–100 characters"));
    }
    let new = NewKey {
        account_id: principal.account_id,
        kind: ApiKeyKind::Credit,
        name,
        tier: None,
        subscription_id: None,
        pledge_id: None,
        organization_name: None,
        contact_email: None,
    };
    let (row, key) = api_keys::create_limited(&state.db, new, state.settings.max_keys_per_account).await?;
    let mut body = key_json(&row);
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, ok(body)).into_response())
}

/// The caller's keys (never their secrets).
#[utoipa::path(get, path = "/api/keys", security(("bearer" = [])), responses((status = 200)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let keys = api_keys::list(&state.db, principal.account_id).await?;
    Ok(ok(keys.iter().map(key_json).collect::<Vec<_>>()).into_response())
}

fn key_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("key"))
}

/// A new secret for one of the caller's keys; the old one stops working.
#[utoipa::path(post, path = "/api/keys/{id}/rotate", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let (row, key) = api_keys::rotate(&state.db, principal.account_id, key_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    state.keys.forget(row.id);
    let mut body = key_json(&row);
    body["key"] = json!(key);
    Ok(ok(body).into_response())
}

/// Revoke one of the caller's keys.
#[utoipa::path(delete, path = "/api/keys/{id}", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    if !api_keys::revoke(&state.db, principal.account_id, key_id(&id)?).await? {
        return Err(ApiError::not_found("key"));
    }
    state.keys.forget(key_id(&id)?);
    Ok(ok(json!({"revoked": true})).into_response())
}
