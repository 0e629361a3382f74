//! `GET /api/billing/status` (billing API; the fields of its plan-checkout variant kept) and `POST /api/billing/cancel`
//! (billing API: with `subscriptionId`, or with no body for the one live 30-day plan).

use crate::auth::{Principal, Scope};
use crate::envelope::Envelope;
use crate::envelope::ok;
use crate::error::ApiError;
use crate::extract::OptionalJson;
use crate::routes::pools::Pledge;
use crate::services::usdc::account;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use billing::subscriptions::{self, Backing};
use chrono::DateTime;
use chrono::Utc;
use entities::PlanKind;
use entities::{KeyStatus, PledgeStatus, SubscriptionStatus};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// The account's billing state: live subscriptions with their keys, pool pledges, credits.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingStatus {
    subscriptions: Vec<LiveSubscription>,
    pool_pledges: Vec<Pledge>,
    /// The highest live 30-day plan's slug.
    plan: Option<String>,
    status: Overall,
    /// USD.
    #[schema(value_type = f64)]
    credit_balance: Box<RawValue>,
    stripe_customer_id: Option<String>,
    subscription_expires_at: Option<DateTime<Utc>>,
    /// Always empty: the legacy flat plans' keys are retired.
    legacy_subscription_keys: Vec<LiveKey>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Active,
    /// Active past its end date.
    Expired,
    Inactive,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveSubscription {
    id: Uuid,
    plan_slug: Option<String>,
    status: SubscriptionStatus,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    keys: Vec<LiveKey>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LiveKey {
    id: Uuid,
    name: String,
    is_active: bool,
    created_at: DateTime<Utc>,
}

/// What a cancel answers: the billing API's enveloped form (with `subscriptionId`), or its
/// bare one (without).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CancelResponse {
    Enveloped(Envelope<Canceled>),
    Bare(Canceled),
}

#[derive(Serialize, utoipa::ToSchema)]
// In a oneOf: no other variant's fields, so exactly one variant matches.
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Canceled {
    canceled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_id: Option<Uuid>,
    expires_at: Option<DateTime<Utc>>,
    /// For a Stripe-backed subscription: Stripe has not confirmed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending: Option<bool>,
}

/// Billing status: live subscriptions, pool pledges, credit balance.
#[utoipa::path(get, path = "/api/billing/status", security(("bearer" = [])), responses((status = 200, body = Envelope<BillingStatus>)))]
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Envelope<BillingStatus>>, ApiError> {
    principal.require(Scope::Read)?;
    let now = Utc::now();
    let account = account(&state, principal.account_id).await?;
    let subs = subscriptions::current(&state.db, principal.account_id).await?;
    let live: Vec<_> = subs.iter().filter(|(s, _)| subscriptions::is_live(s, now)).collect();
    let lapsed = subs.iter().any(|(s, _)| !subscriptions::is_live(s, now));
    // Each subscription's keys (id, name, isActive, createdAt), from one read.
    let keys = billing::api_keys::list(&state.db, principal.account_id).await?;
    let subscriptions: Vec<LiveSubscription> = live
        .iter()
        .map(|(s, plan)| LiveSubscription {
            id: s.id,
            plan_slug: plan.as_ref().map(|p| p.slug.clone()),
            status: s.status,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            keys: keys
                .iter()
                .filter(|k| k.subscription_id == Some(s.id))
                .map(|k| LiveKey {
                    id: k.id,
                    name: k.name.clone(),
                    is_active: k.status == KeyStatus::Active,
                    created_at: k.created_at,
                })
                .collect(),
        })
        .collect();
    // The billing API: the highest live 30-day plan, by price.
    let plan = live
        .iter()
        .filter_map(|(s, p)| p.as_ref().filter(|p| p.kind == PlanKind::Flat30d).map(|p| (s, p)))
        .max_by_key(|(_, p)| p.price_monthly.unwrap_or(billing::Micros::ZERO));
    let balance = billing::ledger::customer_balance(&state.db, principal.account_id).await?;
    let pools = billing::pools::list(&state.db).await?;
    let mut pledges = Vec::new();
    for p in billing::pools::pledges_of(&state.db, principal.account_id, None).await? {
        let slug = pools.iter().find(|pool| pool.id == p.pool_id).map(|pool| pool.slug.clone()).unwrap_or_default();
        pledges.push(Pledge::of(&state, p, slug).await?);
    }
    let live_pledge = pledges.iter().any(|p| matches!(p.status, PledgeStatus::Active | PledgeStatus::PendingKey));
    let overall = if !live.is_empty() || live_pledge {
        Overall::Active
    } else if lapsed {
        Overall::Expired // The billing API: active past its end date reads as expired
    } else {
        Overall::Inactive
    };
    Ok(ok(BillingStatus {
        subscriptions,
        pool_pledges: pledges,
        plan: plan.map(|(_, p)| p.slug.clone()),
        status: overall,
        credit_balance: balance.usd_json(),
        stripe_customer_id: account.stripe_customer_id,
        subscription_expires_at: plan.and_then(|(s, _)| s.current_period_end),
        legacy_subscription_keys: Vec::new(),
    }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    /// Which subscription or pledge; without it, the one live 30-day plan (billing API).
    subscription_id: Option<String>,
}

/// Cancel a subscription at the end of its period.
#[utoipa::path(post, path = "/api/billing/cancel", request_body(content = Option<CancelRequest>, description = "`{subscriptionId}`, or no body for the one live 30-day plan"),
    security(("bearer" = [])), responses((status = 200, body = CancelResponse), (status = 404, description = "No such subscription"),
    (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is not configured")))]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    // No body at all (the plan-checkout variant), or `{subscriptionId}`.
    OptionalJson(req): OptionalJson<CancelRequest>,
) -> Result<Json<CancelResponse>, ApiError> {
    principal.require(Scope::Write)?;
    let now = Utc::now();
    let target = match &req.subscription_id {
        Some(id) => Uuid::parse_str(id).map_err(|_| ApiError::not_found("subscription"))?,
        None => {
            // The billing API: the account's one live 30-day subscription.
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
    // Canceling at the period's end leaves the period's end as it is.
    let (backing, ends) = subscriptions::backing(&state.db, principal.account_id, target).await?;
    if backing == Backing::Unpaid {
        return Err(ApiError::not_found("subscription"));
    }
    if let Backing::Stripe(stripe_id) = backing {
        // A pool pledge or recurring subscription ends at Stripe, at the period's end.
        let done = crate::services::subscriptions::run_change(
            &state,
            principal.account_id,
            stripe_id,
            billing::stripe::subscription::Change::CancelAtPeriodEnd,
        )
        .await?;
        let body =
            Canceled { canceled: true, subscription_id: Some(target), expires_at: ends, pending: Some(done.is_none()) };
        return Ok(Json(CancelResponse::Enveloped(Envelope::new(body))));
    }
    if let Backing::Creem(creem_id) = backing {
        let done = crate::services::subscriptions::run_creem_change(
            &state,
            creem_id,
            billing::stripe::subscription::Change::CancelAtPeriodEnd,
        )
        .await?;
        let body =
            Canceled { canceled: true, subscription_id: Some(target), expires_at: ends, pending: Some(done.is_none()) };
        return Ok(Json(CancelResponse::Enveloped(Envelope::new(body))));
    }
    let sub = subscriptions::cancel_at_period_end(&state.db, principal.account_id, target)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    let canceled = |subscription_id| Canceled {
        canceled: true,
        subscription_id,
        expires_at: sub.current_period_end,
        pending: None,
    };
    Ok(Json(match req.subscription_id {
        Some(_) => CancelResponse::Enveloped(Envelope::new(canceled(Some(sub.id)))),
        None => CancelResponse::Bare(canceled(None)),
    }))
}
