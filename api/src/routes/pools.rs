//! Pool time-block subscriptions (billing API): list pools, one pool, the caller's pledge, and
//! subscribing (a Stripe Checkout in subscription mode for the chosen blocks).

use crate::auth::{Principal, Scope};
use crate::envelope::pending_order;
use crate::envelope::{Envelope, ok};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::services::checkout::{Checkout, OrderExtras, stripe_checkout_with};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use billing::orders::OrderDetails;
use billing::pools::BLOCKS;
use chrono::{DateTime, Utc};
use entities::{BillingInterval, OrderKind, PayMethod, PledgeStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

/// A pool and its daily 8-hour UTC blocks; prices per block in USD.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    id: Uuid,
    slug: String,
    name: String,
    description: String,
    #[schema(value_type = f64)]
    price_per_block_monthly: Box<RawValue>,
    #[schema(value_type = f64)]
    price_per_block_yearly: Box<RawValue>,
    capacity: i32,
    blocks: Vec<Block>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    #[schema(example = "europe")]
    name: &'static str,
    start_hour_utc: u32,
    end_hour_utc: u32,
}

impl From<&entities::pools::Model> for Pool {
    fn from(p: &entities::pools::Model) -> Self {
        Pool {
            id: p.id,
            slug: p.slug.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            price_per_block_monthly: p.price_per_block_monthly.usd_json(),
            price_per_block_yearly: p.price_per_block_yearly.usd_json(),
            capacity: p.capacity,
            blocks: BLOCKS
                .iter()
                .map(|(name, from, to)| Block { name, start_hour_utc: *from, end_hour_utc: *to })
                .collect(),
        }
    }
}

/// A pledge: blocks of a pool reserved by an account.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pledge {
    id: Uuid,
    pool_id: Uuid,
    pool_slug: String,
    #[schema(value_type = Vec<String>)]
    blocks: Value,
    quantity: i32,
    billing_cycle: BillingInterval,
    pub status: PledgeStatus,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    /// Whether its API key was created (`POST /api/keys/subscription`).
    has_key: bool,
}

impl Pledge {
    pub async fn of(state: &AppState, p: entities::pool_pledges::Model, slug: String) -> Result<Pledge, ApiError> {
        Ok(Pledge {
            has_key: billing::pools::has_key(&state.db, p.id).await?,
            id: p.id,
            pool_id: p.pool_id,
            pool_slug: slug,
            blocks: p.blocks,
            quantity: p.quantity,
            billing_cycle: p.billing_cycle,
            status: p.status,
            current_period_end: p.current_period_end,
            cancel_at_period_end: p.cancel_at_period_end,
        })
    }
}

/// A pledge's Checkout: open `sessionUrl` to pay.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PledgeSession {
    session_url: Option<String>,
    session_id: Option<String>,
    pledge_id: Uuid,
}

async fn pool_or_404(state: &AppState, reference: &str) -> Result<entities::pools::Model, ApiError> {
    billing::pools::find(&state.db, reference).await?.ok_or_else(|| ApiError::not_found("pool"))
}

/// List pools.
#[utoipa::path(get, path = "/api/pools", security(("bearer" = [])), responses((status = 200, body = Envelope<Vec<Pool>>)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Envelope<Vec<Pool>>>, ApiError> {
    principal.require(Scope::Read)?;
    let pools = billing::pools::list(&state.db).await?;
    Ok(ok(pools.iter().map(Pool::from).collect()))
}

/// One pool, by slug.
#[utoipa::path(get, path = "/api/pools/{slug}", security(("bearer" = [])), params(("slug" = String, Path, description = "The pool's slug or id")),
    responses((status = 200, body = Envelope<Pool>), (status = 404, description = "No such pool")))]
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(slug): Path<String>,
) -> Result<Json<Envelope<Pool>>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(ok(Pool::from(&pool_or_404(&state, &slug).await?)))
}

/// The caller's pledge to a pool, or null.
#[utoipa::path(get, path = "/api/pools/{slug}/my-pledge", security(("bearer" = [])), params(("slug" = String, Path, description = "The pool's slug or id")),
    responses((status = 200, description = "The pledge, or null", body = Envelope<Option<Pledge>>), (status = 404, description = "No such pool")))]
pub async fn my_pledge(
    State(state): State<AppState>,
    principal: Principal,
    Path(slug): Path<String>,
) -> Result<Json<Envelope<Option<Pledge>>>, ApiError> {
    principal.require(Scope::Read)?;
    let pool = pool_or_404(&state, &slug).await?;
    let pledges = billing::pools::pledges_of(&state.db, principal.account_id, Some(pool.id)).await?;
    Ok(ok(match pledges.into_iter().next() {
        Some(p) => Some(Pledge::of(&state, p, pool.slug).await?),
        None => None,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    /// 1–3 distinct blocks: `americas`, `europe`, `asia`.
    #[serde(default)]
    #[schema(example = json!(["europe"]))]
    blocks: Vec<String>,
    /// Default 1.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    quantity: Option<i64>,
    /// `month` (default) or `year`.
    #[schema(example = "month")]
    billing_cycle: Option<String>,
    coupon: Option<String>,
    #[schema(max_length = 2000)]
    success_url: Option<String>,
    #[schema(max_length = 2000)]
    cancel_url: Option<String>,
}

/// Subscribe to blocks of a pool: a Stripe Checkout for the pledge.
#[utoipa::path(post, path = "/api/pools/{slug}/subscribe", security(("bearer" = [])), request_body = SubscribeRequest,
    params(("slug" = String, Path, description = "The pool's slug or id")),
    responses((status = 200, body = Envelope<PledgeSession>), (status = 202, description = "Stripe is slow: poll the order", body = Envelope<crate::envelope::PendingOrder>),
    (status = 404, description = "No such pool"), (status = 409, description = "The pool is full"),
    (status = 502, description = "Stripe refused the checkout"), (status = 503, description = "Stripe is not configured")))]
pub async fn subscribe(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SubscribeRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let pool = pool_or_404(&state, &id).await?;
    let quantity = req.quantity.unwrap_or(1);
    let mut problems = Vec::new();
    if let Err(e) = billing::pools::validate(&req.blocks, quantity) {
        problems.push(e.to_string());
    }
    let cycle = match req.billing_cycle.as_deref().unwrap_or("month") {
        "month" | "monthly" => BillingInterval::Month,
        "year" | "yearly" => BillingInterval::Year,
        other => {
            problems.push(format!("billingCycle: {other:?} is not month or year"));
            BillingInterval::Month
        }
    };
    for (name, url) in [("successUrl", &req.success_url), ("cancelUrl", &req.cancel_url)] {
        if url.as_deref().is_some_and(|u| !crate::validate::valid_url(u)) {
            problems.push(format!("{name}: not an http(s) URL"));
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request("invalid_request", problems.join("; ")));
    }
    let quantity = quantity as i32;
    let amount = billing::pools::price(&pool, req.blocks.len(), quantity, cycle);
    let pledge =
        billing::pools::create_pledge(&state.db, &pool, principal.account_id, &req.blocks, quantity, cycle).await?;
    let order = billing::orders::NewOrder {
        account_id: principal.account_id,
        kind: OrderKind::PoolSubscription,
        status: entities::OrderStatus::Pending,
        method: PayMethod::Stripe,
        amount,
        plan_id: None,
        details: OrderDetails {
            pledge_id: Some(pledge.id),
            interval: Some(cycle),
            description: Some(format!("{}: {} × {}", pool.name, req.blocks.join(", "), quantity)),
            success_url: req.success_url,
            cancel_url: req.cancel_url,
            ..OrderDetails::default()
        },
    };
    let extras = OrderExtras { pool_id: Some(pool.id), coupon: req.coupon };
    let started = match stripe_checkout_with(&state, order, extras).await {
        Ok(started) => started,
        Err(e) => {
            // A refused checkout (a bad coupon, no Stripe) leaves no pledge behind.
            billing::pools::discard_pledge(&state.db, pledge.id).await?;
            return Err(e);
        }
    };
    Ok(match started {
        Checkout::Ready(r) => {
            ok(PledgeSession { session_url: r.url(), session_id: r.session_id(), pledge_id: pledge.id }).into_response()
        }
        Checkout::Pending { order_id } => pending_order(order_id),
    })
}
