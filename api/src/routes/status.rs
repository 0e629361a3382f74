//! `GET /api/billing/status` (000, with 001's fields kept) and `POST /api/billing/cancel`
//! (000 with `subscriptionId`; 001 without it).

use crate::auth::{Principal, Scope};
use crate::envelope::ok;
use crate::error::ApiError;
use crate::extract::OptionalJson;
use crate::routes::usdc::account;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use billing::subscriptions;
use chrono::Utc;
use entities::PlanKind;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// Billing status: live subscriptions, pool pledges, credit balance.
#[utoipa::path(get, path = "/api/billing/status", security(("bearer" = [])), responses((status = 200)))]
pub async fn status(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Read)?;
    let now = Utc::now();
    let account = account(&state, &principal).await?;
    let subs = subscriptions::current(&state.db, principal.account_id).await?;
    let live: Vec<_> = subs.iter().filter(|(s, _)| subscriptions::is_live(s, now)).collect();
    let lapsed = subs.iter().any(|(s, _)| !subscriptions::is_live(s, now));
    // Each subscription's keys (id, name, isActive, createdAt), from one read.
    let keys = billing::api_keys::list(&state.db, principal.account_id).await?;
    let subscriptions_json: Vec<Value> = live
        .iter()
        .map(|(s, plan)| {
            let own: Vec<Value> = keys
                .iter()
                .filter(|k| k.subscription_id == Some(s.id))
                .map(|k| {
                    json!({"id": k.id, "name": k.name, "isActive": k.status == entities::KeyStatus::Active,
                           "createdAt": k.created_at})
                })
                .collect();
            json!({
                "id": s.id,
                "planSlug": plan.as_ref().map(|p| p.slug.clone()),
                "status": s.status,
                "currentPeriodEnd": s.current_period_end,
                "cancelAtPeriodEnd": s.cancel_at_period_end,
                "keys": own,
            })
        })
        .collect();
    // 001: the highest live 30-day plan, by price.
    let plan = live
        .iter()
        .filter_map(|(s, p)| p.as_ref().filter(|p| p.kind == PlanKind::Flat30d).map(|p| (s, p)))
        .max_by_key(|(_, p)| p.price_monthly.unwrap_or(0));
    let balance = billing::ledger::customer_balance(&state.db, principal.account_id).await?;
    let pools = billing::pools::list(&state.db).await?;
    let mut pledges = Vec::new();
    for p in billing::pools::pledges_of(&state.db, principal.account_id, None).await? {
        let slug = pools.iter().find(|pool| pool.id == p.pool_id).map(|pool| pool.slug.clone()).unwrap_or_default();
        pledges.push(crate::routes::pools::pledge_json(&state, &p, &slug).await?);
    }
    let live_pledge = pledges.iter().any(|p| p["status"] == json!("active") || p["status"] == json!("pending_key"));
    let overall = if !live.is_empty() || live_pledge {
        "active"
    } else if lapsed {
        "expired" // 001: active past its end date reads as expired
    } else {
        "inactive"
    };
    Ok(ok(json!({
        "subscriptions": subscriptions_json,
        "poolPledges": pledges,
        "plan": plan.map(|(_, p)| p.slug.clone()),
        "status": overall,
        "creditBalance": balance.usd_json(),
        "stripeCustomerId": account.stripe_customer_id,
        "subscriptionExpiresAt": plan.and_then(|(s, _)| s.current_period_end),
        "legacySubscriptionKeys": [],
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    subscription_id: Option<String>,
}

/// Cancel a subscription at the end of its period.
#[utoipa::path(post, path = "/api/billing/cancel", request_body(content = String, description = "`{subscriptionId}` (000) or empty (001)"), security(("bearer" = [])), responses((status = 200), (status = 404)))]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    // 001 sends no body at all; 000 sends `{subscriptionId}`.
    OptionalJson(req): OptionalJson<CancelRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let now = Utc::now();
    let target = match &req.subscription_id {
        Some(id) => Uuid::parse_str(id).map_err(|_| ApiError::not_found("subscription"))?,
        None => {
            // 001: the account's one live 30-day subscription.
            let subs = subscriptions::current(&state.db, principal.account_id).await?;
            let flat: Vec<_> =
                subs.iter().filter(|(s, _)| s.kind == PlanKind::Flat30d && subscriptions::is_live(s, now)).collect();
            match flat.as_slice() {
                [(s, _)] => s.id,
                [] => return Err(ApiError::not_found("active subscription")),
                _ => {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "subscriptionId: several subscriptions are active; name one",
                    ));
                }
            }
        }
    };
    if let Some(stripe_id) = stripe_backed(&state, &principal, target).await? {
        // A pool pledge or recurring subscription ends at Stripe, at the period's end.
        let done = crate::routes::subscription::run_change(
            &state,
            &principal,
            stripe_id,
            billing::stripe::subscription::Change::CancelAtPeriodEnd,
        )
        .await?;
        let ends = period_end(&state, target).await?;
        let body = json!({"canceled": true, "subscriptionId": target, "expiresAt": ends, "pending": done.is_none()});
        return Ok(ok(body).into_response());
    }
    let sub = subscriptions::cancel_at_period_end(&state.db, principal.account_id, target)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    let body = json!({"canceled": true, "subscriptionId": sub.id, "expiresAt": sub.current_period_end});
    Ok(match req.subscription_id {
        Some(_) => ok(body).into_response(),
        None => Json(json!({"canceled": true, "expiresAt": sub.current_period_end})).into_response(),
    })
}

/// The Stripe subscription behind one of the account's pledges or recurring subscriptions.
async fn stripe_backed(state: &AppState, principal: &Principal, id: Uuid) -> Result<Option<String>, ApiError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let pledge = entities::pool_pledges::Entity::find_by_id(id)
        .filter(entities::pool_pledges::Column::AccountId.eq(principal.account_id))
        .one(&state.db)
        .await?;
    if let Some(p) = pledge {
        return p.stripe_subscription_id.map(Some).ok_or_else(|| ApiError::not_found("subscription"));
    }
    let sub = entities::subscriptions::Entity::find_by_id(id)
        .filter(entities::subscriptions::Column::AccountId.eq(principal.account_id))
        .one(&state.db)
        .await?;
    Ok(sub.and_then(|s| s.stripe_subscription_id))
}

async fn period_end(state: &AppState, id: Uuid) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    use sea_orm::EntityTrait;
    if let Some(p) = entities::pool_pledges::Entity::find_by_id(id).one(&state.db).await? {
        return Ok(p.current_period_end);
    }
    Ok(entities::subscriptions::Entity::find_by_id(id).one(&state.db).await?.and_then(|s| s.current_period_end))
}
