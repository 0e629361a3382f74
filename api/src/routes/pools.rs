//! Pool time-block subscriptions (000): list pools, one pool, the caller's pledge, and
//! subscribing (a Stripe Checkout in subscription mode for the chosen blocks).

use crate::auth::{Principal, Scope};
use crate::envelope::ok;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::topup::{Checkout, OrderExtras, pending, stripe_checkout_with};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use billing::Micros;
use billing::pools::BLOCKS;
use entities::{BillingInterval, OrderKind, PayMethod};
use serde::Deserialize;
use serde_json::{Value, json};

fn pool_json(p: &entities::pools::Model) -> Value {
    json!({
        "id": p.id,
        "slug": p.slug,
        "name": p.name,
        "description": p.description,
        "pricePerBlockMonthly": Micros::new(p.price_per_block_monthly).usd_json(),
        "pricePerBlockYearly": Micros::new(p.price_per_block_yearly).usd_json(),
        "capacity": p.capacity,
        "blocks": BLOCKS.iter().map(|(name, from, to)| json!({"name": name, "startHourUtc": from, "endHourUtc": to})).collect::<Vec<_>>(),
    })
}

pub async fn pledge_json(state: &AppState, p: &entities::pool_pledges::Model, slug: &str) -> Result<Value, ApiError> {
    Ok(json!({
        "id": p.id,
        "poolId": p.pool_id,
        "poolSlug": slug,
        "blocks": p.blocks,
        "quantity": p.quantity,
        "billingCycle": p.billing_cycle,
        "status": p.status,
        "currentPeriodEnd": p.current_period_end,
        "cancelAtPeriodEnd": p.cancel_at_period_end,
        "hasKey": billing::pools::has_key(&state.db, p.id).await?,
    }))
}

async fn pool_or_404(state: &AppState, reference: &str) -> Result<entities::pools::Model, ApiError> {
    billing::pools::find(&state.db, reference).await?.ok_or_else(|| ApiError::not_found("pool"))
}

/// List pools.
#[utoipa::path(get, path = "/api/pools", security(("bearer" = [])), responses((status = 200)))]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let pools = billing::pools::list(&state.db).await?;
    Ok(ok(pools.iter().map(pool_json).collect::<Vec<_>>()).into_response())
}

/// One pool, by slug.
#[utoipa::path(get, path = "/api/pools/{slug}", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    Ok(ok(pool_json(&pool_or_404(&state, &slug).await?)).into_response())
}

/// The caller's pledge to a pool, or null.
#[utoipa::path(get, path = "/api/pools/{slug}/my-pledge", security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn my_pledge(
    State(state): State<AppState>,
    principal: Principal,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let pool = pool_or_404(&state, &slug).await?;
    let pledges = billing::pools::pledges_of(&state.db, principal.account_id, Some(pool.id)).await?;
    let data = match pledges.first() {
        Some(p) => pledge_json(&state, p, &pool.slug).await?,
        None => Value::Null,
    };
    Ok(ok(data).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    #[serde(default)]
    blocks: Vec<String>,
    quantity: Option<i64>,
    billing_cycle: Option<String>,
    coupon: Option<String>,
    success_url: Option<String>,
    cancel_url: Option<String>,
}

/// Subscribe to blocks of a pool: a Stripe Checkout for the pledge.
#[utoipa::path(post, path = "/api/pools/{slug}/subscribe", security(("bearer" = [])), responses((status = 200), (status = 202), (status = 400), (status = 404)))]
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
        if url.as_deref().is_some_and(|u| !crate::routes::subscription::valid_url(u)) {
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
        details: json!({
            "pledgeId": pledge.id, "interval": if cycle == BillingInterval::Year { "year" } else { "month" },
            "description": format!("{}: {} × {}", pool.name, req.blocks.join(", "), quantity),
            "successUrl": req.success_url, "cancelUrl": req.cancel_url,
        }),
    };
    let extras = OrderExtras { pool_id: Some(pool.id), coupon: req.coupon };
    let started = match stripe_checkout_with(&state, order, extras).await {
        Ok(started) => started,
        Err(e) => {
            // A refused checkout (a bad coupon, no Stripe) leaves no pledge behind.
            use sea_orm::EntityTrait;
            entities::pool_pledges::Entity::delete_by_id(pledge.id).exec(&state.db).await?;
            return Err(e);
        }
    };
    Ok(match started {
        Checkout::Ready(r) => {
            ok(json!({"sessionUrl": r["sessionUrl"], "sessionId": r["sessionId"], "pledgeId": pledge.id}))
                .into_response()
        }
        Checkout::Pending { order_id } => pending(order_id),
    })
}
