//! Recurring subscriptions (subscription API): `GET/POST/PUT/DELETE /subscription`,
//! `POST /subscription/resume`; and the credits API's `POST /payment/create-session`.
//!
//! Every change goes to Stripe through a worker job keyed by the request; the route waits
//! briefly and answers with the mirrored state (202 with the job to poll if Stripe is slow).

use crate::auth::{Principal, Scope};
use crate::envelope::Envelope;
use crate::envelope::ok;
use crate::error::ApiError;
use crate::extract::{ApiJson, OptionalJson};
use crate::routes::plans::{Plan, microcents, plan_dto};
use crate::services::checkout::{Checkout, OrderExtras, stripe_checkout_with};
use crate::services::subscriptions;
use crate::state::AppState;
use crate::validate::{MAX_URL, valid_url};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use billing::OrderId;
use billing::orders::OrderDetails;
use billing::stripe::subscription::{Change, current_recurring};
use chrono::{DateTime, Utc};
use entities::{BillingInterval, OrderKind, PayMethod, SubscriptionStatus};
use serde::{Deserialize, Serialize};

/// The subscription API's SubscriptionDTO (Stripe ids omitted).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// The plan's slug.
    plan_id: Option<String>,
    plan: Option<Plan>,
    interval: Interval,
    status: SubscriptionStatus,
    current_period_start: Option<DateTime<Utc>>,
    trial_end: Option<DateTime<Utc>>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    /// Microcents a period.
    credits_per_period: i64,
    /// A downgrade waiting for the period's end: the plan's slug.
    pending_plan_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Monthly,
    Yearly,
}

/// A Stripe Checkout to open.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckoutUrl {
    url: Option<String>,
}

/// Stripe is slow: the order to poll (`GET /orders/{id}`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingCheckout {
    #[schema(value_type = uuid::Uuid)]
    order_id: OrderId,
    #[schema(example = "pending")]
    status: &'static str,
}

/// Stripe is slow: the change is applied when the worker gets an answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingChange {
    #[schema(example = "pending")]
    status: &'static str,
}

/// The credits API's checkout session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    url: Option<String>,
    session_id: Option<String>,
}

/// The most credits one checkout may buy (1M USD).
const MAX_CREDITS_PER_SESSION: i64 = 100_000_000;

/// The subscription API's SubscriptionDTO (Stripe ids omitted).
async fn dto(state: &AppState, sub: &entities::subscriptions::Model) -> Result<Subscription, ApiError> {
    let plan = billing::catalog::plan_by_id(&state.db, sub.plan_id).await?;
    let plan_view = match &plan {
        Some(p) => Some(plan_dto(state, p).await?),
        None => None,
    };
    let pending = match sub.pending_plan_id {
        Some(id) => billing::catalog::plan_by_id(&state.db, id).await?.map(|p| p.slug),
        None => None,
    };
    Ok(Subscription {
        plan_id: plan.as_ref().map(|p| p.slug.clone()),
        plan: plan_view,
        interval: match sub.interval {
            Some(BillingInterval::Year) => Interval::Yearly,
            _ => Interval::Monthly,
        },
        status: sub.status,
        current_period_start: sub.current_period_start,
        trial_end: sub.trial_end,
        current_period_end: sub.current_period_end,
        cancel_at_period_end: sub.cancel_at_period_end,
        credits_per_period: microcents(plan.as_ref().map_or(billing::Micros::ZERO, |p| p.credits_per_period)),
        pending_plan_id: pending,
    })
}

/// Get the current paid subscription, or null (Starter entitlements apply).
#[utoipa::path(get, path = "/subscription", security(("bearer" = [])), responses((status = 200, body = Option<Subscription>)))]
pub async fn get(State(state): State<AppState>, principal: Principal) -> Result<Json<Option<Subscription>>, ApiError> {
    principal.require(Scope::Read)?;
    Ok(Json(match current_recurring(&state.db, principal.account_id).await? {
        Some(sub) => Some(dto(&state, &sub).await?),
        None => None,
    }))
}

/// The fields of a recurring checkout, shared by the subscription API's `POST /subscription` and the credits API's
/// `POST /payment/create-session`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateRequest {
    /// A self-serve plan's slug or id.
    #[schema(example = "pro", required = true)]
    plan_id: Option<String>,
    /// `monthly` (default) or `yearly`.
    #[schema(example = "monthly")]
    interval: Option<String>,
    /// Default: the Origin's `/settings/billing/subscription?success=1`.
    #[schema(max_length = 2000)]
    success_url: Option<String>,
    #[schema(max_length = 2000)]
    cancel_url: Option<String>,
    coupon: Option<String>,
}

fn origin(headers: &HeaderMap, state: &AppState) -> String {
    headers
        .get(axum::http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| valid_url(o))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let url = &state.settings.checkout_success_url;
            url.find("://")
                .and_then(|i| url[i + 3..].find('/').map(|j| url[..i + 3 + j].to_owned()))
                .unwrap_or(url.clone())
        })
}

async fn validate_recurring(
    state: &AppState,
    headers: &HeaderMap,
    req: CreateRequest,
    method: PayMethod,
) -> Result<subscriptions::RecurringCheckout, ApiError> {
    let CreateRequest { plan_id, interval, success_url: success, cancel_url: cancel, coupon } = req;
    let mut errors = Vec::new();
    let plan = match plan_id.as_deref() {
        None | Some("") => {
            errors.push("plan_id: required".to_owned());
            None
        }
        Some(id) => match billing::catalog::plan_by_ref(&state.db, id).await? {
            Some(p) if billing::catalog::self_serve(&p) => Some(p),
            Some(_) => {
                errors.push(format!("plan_id: {id:?} cannot be subscribed to through checkout"));
                None
            }
            None => {
                errors.push(format!("plan_id: no plan {id:?}"));
                None
            }
        },
    };
    let interval = match interval.as_deref().unwrap_or("monthly") {
        "monthly" | "month" => BillingInterval::Month,
        "yearly" | "year" => BillingInterval::Year,
        other => {
            errors.push(format!("interval: {other:?} is not monthly or yearly"));
            BillingInterval::Month
        }
    };
    for (name, url) in [("success_url", &success), ("cancel_url", &cancel)] {
        if url.as_deref().is_some_and(|u| !valid_url(u)) {
            errors.push(format!("{name}: not an http(s) URL of at most {MAX_URL} characters"));
        }
    }
    if let Some(p) = &plan
        && billing::catalog::price_for(p, interval).is_none_or(|a| !a.is_positive())
    {
        errors.push(format!(
            "interval: {} has no {} price",
            p.slug,
            if interval == BillingInterval::Year { "yearly" } else { "monthly" }
        ));
    }
    if method == PayMethod::Creem {
        // Creem checkouts are product-backed: the plan must name its Creem product.
        if let Some(p) = &plan
            && billing::catalog::creem_product_for(p, interval).is_none()
        {
            let field = if interval == BillingInterval::Year { "creem_product_id_yearly" } else { "creem_product_id" };
            errors.push(format!("plan_id: {} has no {field} configured for Creem", p.slug));
        }
        if coupon.is_some() {
            errors.push("coupon: not available with Creem (Creem applies its own discount codes)".to_owned());
        }
    }
    match plan {
        Some(plan) if errors.is_empty() => {
            let base = origin(headers, state);
            Ok(subscriptions::RecurringCheckout {
                plan,
                interval,
                success_url: success.unwrap_or_else(|| format!("{base}/settings/billing/subscription?success=1")),
                cancel_url: cancel.unwrap_or_else(|| format!("{base}/settings/billing/subscription")),
                coupon,
                method,
            })
        }
        _ => Err(ApiError::bad_request("invalid_request", errors.join("; "))),
    }
}

/// Create a subscription: a Stripe Checkout URL.
#[utoipa::path(post, path = "/subscription", security(("bearer" = [])), request_body = CreateRequest,
    responses((status = 200, body = CheckoutUrl), (status = 202, description = "Stripe is slow: poll the order", body = PendingCheckout),
    (status = 409, description = "The team already has a subscription"), (status = 502, description = "Stripe refused the checkout"),
    (status = 503, description = "Stripe is not configured")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let c = validate_recurring(&state, &headers, req, PayMethod::Stripe).await?;
    Ok(match subscriptions::start_recurring(&state, principal.account_id, c).await? {
        Checkout::Ready(r) => Json(CheckoutUrl { url: r.url() }).into_response(),
        Checkout::Pending { order_id } => {
            (StatusCode::ACCEPTED, Json(PendingCheckout { order_id, status: "pending" })).into_response()
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChangeRequest {
    /// The self-serve plan to move to (slug or id).
    #[schema(example = "team", required = true)]
    plan_id: Option<String>,
}

/// Runs a subscription change job and waits for it; the mirrored subscription after it.
async fn change(
    state: &AppState,
    principal: &Principal,
    sub: &entities::subscriptions::Model,
    change: Change,
) -> Result<Response, ApiError> {
    let job = match (&sub.stripe_subscription_id, &sub.creem_subscription_id) {
        (Some(stripe_id), _) => {
            subscriptions::run_change(state, principal.account_id, stripe_id.clone(), change).await?
        }
        (None, Some(creem_id)) => subscriptions::run_creem_change(state, creem_id.clone(), change).await?,
        (None, None) => return Err(ApiError::not_found("subscription")),
    };
    match job {
        Some(()) => {
            let fresh = billing::subscriptions::find(&state.db, sub.id)
                .await?
                .ok_or_else(|| ApiError::not_found("subscription"))?;
            Ok(Json(dto(state, &fresh).await?).into_response())
        }
        None => Ok((StatusCode::ACCEPTED, Json(PendingChange { status: "pending" })).into_response()),
    }
}

async fn current_or_404(state: &AppState, principal: &Principal) -> Result<entities::subscriptions::Model, ApiError> {
    current_recurring(&state.db, principal.account_id).await?.ok_or_else(|| ApiError::not_found("subscription"))
}

/// Change plan: an upgrade applies now with a prorated invoice; a downgrade at period end.
#[utoipa::path(put, path = "/subscription", security(("bearer" = [])), request_body = ChangeRequest,
    responses((status = 200, description = "Changed", body = Subscription), (status = 202, description = "Stripe is slow; applied when it answers", body = PendingChange),
    (status = 402, description = "The prorated invoice was declined; nothing changed"), (status = 404, description = "No subscription"),
    (status = 502, description = "Stripe refused the change"), (status = 503, description = "Stripe is not configured")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let Some(plan_ref) = req.plan_id.filter(|p| !p.is_empty()) else {
        return Err(ApiError::bad_request("invalid_request", "plan_id: required"));
    };
    let plan = billing::catalog::plan_by_ref(&state.db, &plan_ref)
        .await?
        .filter(billing::catalog::self_serve)
        .ok_or_else(|| ApiError::bad_request("invalid_request", format!("plan_id: no self-serve plan {plan_ref:?}")))?;
    let sub = current_or_404(&state, &principal).await?;
    if sub.status == entities::SubscriptionStatus::Canceled || sub.cancel_at_period_end {
        return Err(ApiError::bad_request("invalid_request", "the subscription is set to end: resume it first"));
    }
    let interval = sub.interval.unwrap_or(BillingInterval::Month);
    let target = sub.pending_plan_id.unwrap_or(sub.plan_id);
    if plan.id == target {
        return Err(ApiError::bad_request("invalid_request", "plan_id: already the subscription's plan"));
    }
    let current = billing::catalog::plan_by_id(&state.db, sub.plan_id).await?;
    let price = |p: &entities::plans::Model| billing::catalog::price_for(p, interval).unwrap_or(billing::Micros::ZERO);
    let new_price = billing::catalog::price_for(&plan, interval)
        .ok_or_else(|| ApiError::bad_request("invalid_request", "plan_id: no price for the subscription's interval"))?;
    let upgrade = current.as_ref().is_none_or(|c| new_price > price(c));
    change(&state, &principal, &sub, Change::Plan { plan_id: plan.id, upgrade }).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct CancelRequest {
    /// `true` (default): at the period's end; `false`: now.
    at_period_end: Option<bool>,
}

/// Cancel at period end (default) or now.
#[utoipa::path(delete, path = "/subscription", request_body(content = Option<CancelRequest>, description = "Optional"), security(("bearer" = [])),
    responses((status = 200, description = "Canceled (or set to cancel)", body = Subscription), (status = 202, description = "Stripe is slow", body = PendingChange),
    (status = 404, description = "No subscription"), (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is not configured")))]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(req): OptionalJson<CancelRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let sub = current_or_404(&state, &principal).await?;
    let change_kind = if req.at_period_end.unwrap_or(true) { Change::CancelAtPeriodEnd } else { Change::CancelNow };
    change(&state, &principal, &sub, change_kind).await
}

/// Resume a subscription set to cancel at period end (or a paused one).
#[utoipa::path(post, path = "/subscription/resume", security(("bearer" = [])),
    responses((status = 200, description = "Resumed", body = Subscription), (status = 202, description = "Stripe is slow", body = PendingChange),
    (status = 404, description = "No subscription"), (status = 502, description = "Stripe refused"), (status = 503, description = "Stripe is not configured")))]
pub async fn resume(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let sub = current_or_404(&state, &principal).await?;
    if !sub.cancel_at_period_end && sub.status != entities::SubscriptionStatus::Paused {
        return Err(ApiError::bad_request("invalid_request", "the subscription is not set to cancel nor paused"));
    }
    change(&state, &principal, &sub, Change::Resume).await
}

/// The payment provider of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Stripe,
    /// Product-backed: the plan needs a `creem_product_id` (admin), credits the server's
    /// `CREEM_TOPUP_PRODUCT_ID`.
    Creem,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SessionRequest {
    /// `stripe` or `creem`.
    #[schema(value_type = Option<Channel>, example = "stripe", required = true)]
    channel: Option<String>,
    /// `subscription` or `credits`.
    #[serde(rename = "type")]
    #[schema(rename = "type", example = "credits", required = true)]
    kind: Option<String>,
    /// Credits to buy, for `type: "credits"` (at least 1,000).
    #[schema(minimum = 1000, maximum = 100_000_000)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    amount: Option<i64>,
    #[serde(flatten)]
    checkout: CreateRequest,
}

/// The credits API: a payment session with a provider — a subscription or a credit purchase.
#[utoipa::path(post, path = "/payment/create-session", security(("bearer" = [])), request_body = SessionRequest,
    responses((status = 200, body = Envelope<Session>), (status = 202, description = "Stripe is slow: poll the order", body = Envelope<crate::envelope::PendingOrder>),
    (status = 409, description = "Already subscribed"), (status = 502, description = "Stripe refused the checkout"), (status = 503, description = "Stripe is not configured")))]
pub async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SessionRequest>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Write)?;
    let channel = match req.channel.as_deref() {
        Some("stripe") => Channel::Stripe,
        Some("creem") => Channel::Creem,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("channel: {other:?} is not supported; use stripe or creem"),
            ));
        }
        None => return Err(ApiError::bad_request("invalid_request", "channel: required")),
    };
    let method = if channel == Channel::Creem { PayMethod::Creem } else { PayMethod::Stripe };
    let started = match req.kind.as_deref() {
        Some("subscription") => {
            let c = validate_recurring(&state, &headers, req.checkout, method).await?;
            subscriptions::start_recurring(&state, principal.account_id, c).await?
        }
        Some("credits") => {
            let credits =
                req.amount.ok_or_else(|| ApiError::bad_request("invalid_request", "amount: required (credits)"))?;
            let amount = credits
                .checked_mul(billing::money::MICROS_PER_CREDIT)
                .map(billing::Micros::new)
                .filter(|a| *a >= billing::orders::MIN_TOPUP && credits <= MAX_CREDITS_PER_SESSION)
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_request", "amount: 1,000 to 100,000,000 credits (10 USD to 1M USD)")
                })?;
            if channel == Channel::Creem {
                // Credits are units of a one-dollar Creem product.
                if state.settings.creem.enabled() && state.settings.creem.topup_product_id.is_none() {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "type: credits are not sold through Creem on this server (no CREEM_TOPUP_PRODUCT_ID)",
                    ));
                }
                if credits % 100 != 0 {
                    return Err(ApiError::bad_request(
                        "invalid_request",
                        "amount: Creem sells credits by the dollar (a multiple of 100 credits)",
                    ));
                }
            }
            let CreateRequest { success_url, cancel_url, .. } = req.checkout;
            for (name, url) in [("success_url", &success_url), ("cancel_url", &cancel_url)] {
                if url.as_deref().is_some_and(|u| !valid_url(u)) {
                    return Err(ApiError::bad_request("invalid_request", format!("{name}: not an http(s) URL")));
                }
            }
            let order = billing::orders::NewOrder {
                account_id: principal.account_id,
                kind: OrderKind::Topup,
                status: entities::OrderStatus::Pending,
                method,
                amount,
                plan_id: None,
                details: OrderDetails { success_url, cancel_url, ..OrderDetails::default() },
            };
            stripe_checkout_with(&state, order, OrderExtras::default()).await?
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("type: {other:?} is not subscription or credits"),
            ));
        }
        None => return Err(ApiError::bad_request("invalid_request", "type: required")),
    };
    Ok(match started {
        Checkout::Ready(r) => ok(Session { url: r.url(), session_id: r.session_id() }).into_response(),
        Checkout::Pending { order_id } => crate::envelope::pending_order(order_id),
    })
}
