//! API keys: the key-tier API's `POST /api/v1/billing/api-keys`, and the billing API's subscription and credit keys
//! with listing, rotation and revocation. A key is in the response once and never again.

use crate::auth::{Principal, Scope};
use crate::envelope::{Envelope, created, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::validate::Fields;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use billing::api_keys::{self, NewKey, tier_limits};
use chrono::{DateTime, Utc};
use entities::KeyStatus;
use entities::{ApiKeyKind, KeyTier, PledgeStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// An API key, never its secret (except `key`, once, when it is made or rotated).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    id: Uuid,
    name: String,
    kind: ApiKeyKind,
    /// The key's first characters, to recognise it.
    prefix: String,
    status: KeyStatus,
    tier: Option<KeyTier>,
    /// The subscription or pool pledge the key belongs to.
    subscription_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    /// The secret: in this response only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl Key {
    fn of(k: entities::api_keys::Model, secret: Option<String>) -> Key {
        Key {
            id: k.id,
            name: k.name,
            kind: k.kind,
            prefix: k.prefix,
            status: k.status,
            tier: k.tier,
            subscription_id: k.subscription_id.or(k.pledge_id),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            key: secret,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierKeyRequest {
    /// 2–200 characters.
    #[schema(value_type = String, example = "Acme Inc")]
    organization_name: Option<Value>,
    #[schema(value_type = String, format = Email, example = "ops@acme.example")]
    contact_email: Option<Value>,
    /// `Free` (default), `Starter`, `Growth` or `Enterprise`; above Free needs the subscription.
    #[schema(value_type = Option<String>, example = "Free")]
    tier: Option<Value>,
    /// What the key may do when presented as a bearer on the subscription API
    /// (default `["billing:read"]`; at most the caller's own scopes, never `admin`).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 3)]
    scopes: Option<Vec<Scope>>,
}

/// A tier key, created: the secret is shown once.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierKey {
    id: Uuid,
    #[schema(example = "Free")]
    tier: &'static str,
    /// Requests a minute.
    rate_limit: u32,
    /// Queries a month; null: unlimited.
    monthly_query_limit: Option<u64>,
    created_at: DateTime<Utc>,
    api_key: String,
    note: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    revoked: bool,
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

pub(crate) fn tier_name(t: KeyTier) -> &'static str {
    match t {
        KeyTier::Free => "Free",
        KeyTier::Starter => "Starter",
        KeyTier::Growth => "Growth",
        KeyTier::Enterprise => "Enterprise",
    }
}

/// The key-tier API: create an API key; every invalid field is named in `details`.
#[utoipa::path(post, path = "/api/v1/billing/api-keys", security(("bearer" = [])), request_body = TierKeyRequest,
    responses((status = 201, body = TierKey), (status = 403, description = "The tier needs a subscription (`feature_not_available`)"),
    (status = 409, description = "The account has as many keys as it may")))]
pub async fn create_tier_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<TierKeyRequest>,
) -> Result<(StatusCode, Json<TierKey>), ApiError> {
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
    let scopes = key_scopes(&principal, req.scopes.as_deref())?;
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
            scopes,
            brand: state.settings.identity.api_key_bearer_prefix.clone(),
        },
        state.settings.max_keys_per_account,
    )
    .await?;
    let (rate, monthly) = tier_limits(tier);
    Ok((
        StatusCode::CREATED,
        Json(TierKey {
            id: row.id,
            tier: tier_name(tier),
            rate_limit: rate,
            monthly_query_limit: monthly,
            created_at: row.created_at,
            api_key: key,
            note: "API key created. Use X-API-Key header to authenticate requests.",
        }),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionKeyRequest {
    /// A live subscription's or paid pledge's id, from `GET /api/billing/status`.
    #[schema(required = true)]
    subscription_id: Option<String>,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    name: Option<String>,
    /// What the key may do as a bearer on the subscription API (default `["billing:read"]`;
    /// at most the caller's own scopes, never `admin`).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 3)]
    scopes: Option<Vec<Scope>>,
}

/// The billing API: a key for one of the caller's live subscriptions or paid pool pledges.
#[utoipa::path(post, path = "/api/keys/subscription", security(("bearer" = [])), request_body = SubscriptionKeyRequest,
    responses((status = 201, body = Envelope<Key>), (status = 404, description = "No such subscription for this account"),
    (status = 409, description = "The account has as many keys as it may")))]
pub async fn create_subscription_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<SubscriptionKeyRequest>,
) -> Result<(StatusCode, Json<Envelope<Key>>), ApiError> {
    principal.require(Scope::Write)?;
    let Some(id) = req.subscription_id.as_deref() else {
        return Err(ApiError::bad_request("invalid_request", "subscriptionId: required (from /api/billing/status)"));
    };
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found("subscription"))?;
    let scopes = key_scopes(&principal, req.scopes.as_deref())?;
    let name = req.name.unwrap_or_else(|| "subscription key".to_owned());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_request", "name: 1–100 characters, no control characters"));
    }
    let pledge = billing::pools::pledge_of(&state.db, principal.account_id, id).await?;
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
        scopes,
        brand: state.settings.identity.api_key_bearer_prefix.clone(),
    };
    let (row, key) = api_keys::create_limited(&state.db, new, state.settings.max_keys_per_account).await?;
    Ok(created(Key::of(row, Some(key))))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct CreditKeyRequest {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]+$")]
    name: Option<String>,
    /// What the key may do as a bearer on the subscription API (default `["billing:read"]`;
    /// at most the caller's own scopes, never `admin`).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 3)]
    scopes: Option<Vec<Scope>>,
}

/// The bearer scopes a new API key gets: [`api_keys::DEFAULT_SCOPES`], or those asked for
/// within the caller's own.
fn key_scopes(principal: &Principal, asked: Option<&[Scope]>) -> Result<String, ApiError> {
    match asked {
        None => Ok(api_keys::DEFAULT_SCOPES.to_owned()),
        Some(asked) => principal.delegate(asked, false).map(|s| Scope::join(&s)),
    }
}

/// The billing API: a credit key, drawing on the account's credits.
#[utoipa::path(post, path = "/api/keys/credit", security(("bearer" = [])), request_body(content = Option<CreditKeyRequest>, description = "Optional"),
    responses((status = 201, body = Envelope<Key>), (status = 409, description = "The account has as many keys as it may")))]
pub async fn create_credit_key(
    State(state): State<AppState>,
    principal: Principal,
    crate::extract::OptionalJson(req): crate::extract::OptionalJson<CreditKeyRequest>,
) -> Result<(StatusCode, Json<Envelope<Key>>), ApiError> {
    principal.require(Scope::Write)?;
    let scopes = key_scopes(&principal, req.scopes.as_deref())?;
    let name = req.name.unwrap_or_else(|| "credit key".to_owned());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_request", "name: 1–100 characters, no control characters"));
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
        scopes,
        brand: state.settings.identity.api_key_bearer_prefix.clone(),
    };
    let (row, key) = api_keys::create_limited(&state.db, new, state.settings.max_keys_per_account).await?;
    Ok(created(Key::of(row, Some(key))))
}

/// The caller's keys (never their secrets).
#[utoipa::path(get, path = "/api/keys", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<Key>>)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<Vec<Key>>>, ApiError> {
    principal.require(Scope::Read)?;
    let keys = api_keys::list(&state.db, principal.account_id).await?;
    Ok(ok(keys.into_iter().map(|k| Key::of(k, None)).collect()))
}

fn key_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("key"))
}

/// A new secret for one of the caller's keys; the old one stops working.
#[utoipa::path(post, path = "/api/keys/{id}/rotate", security(("bearer" = [])), params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "The new secret, shown once", body = Envelope<Key>), (status = 404, description = "No such key for this account")))]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Key>>, ApiError> {
    principal.require(Scope::Write)?;
    let (row, key) = api_keys::rotate(
        &state.db,
        principal.account_id,
        key_id(&id)?,
        state.settings.identity.api_key_bearer_prefix.as_deref(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("key"))?;
    state.keys.forget(row.id);
    Ok(ok(Key::of(row, Some(key))))
}

/// Revoke one of the caller's keys.
#[utoipa::path(delete, path = "/api/keys/{id}", security(("bearer" = [])), params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = Envelope<Revoked>), (status = 404, description = "No such key for this account")))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Envelope<Revoked>>, ApiError> {
    principal.require(Scope::Write)?;
    if !api_keys::revoke(&state.db, principal.account_id, key_id(&id)?).await? {
        return Err(ApiError::not_found("key"));
    }
    state.keys.forget(key_id(&id)?);
    Ok(ok(Revoked { revoked: true }))
}
