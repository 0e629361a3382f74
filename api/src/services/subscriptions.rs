//! Recurring subscriptions: starting one by Stripe Checkout, and changing one at Stripe
//! (plan, cancel, resume) through a job keyed by the request, waited for briefly.

use crate::error::ApiError;
use crate::jobs::Finished;
use crate::services::checkout::{Checkout, OrderExtras, stripe_checkout_with, stripe_unavailable};
use crate::state::AppState;
use axum::http::StatusCode;
use billing::AccountId;
use billing::jobs::contracts::{ChangeOutcome, ChangeOutput, CreemCancel, SubscriptionChange};
use billing::orders::OrderDetails;
use billing::stripe::subscription::{Change, current_recurring};
use entities::{BillingInterval, OrderKind, PayMethod};

/// What a recurring checkout needs, validated.
pub struct RecurringCheckout {
    pub plan: entities::plans::Model,
    pub interval: BillingInterval,
    pub success_url: String,
    pub cancel_url: String,
    pub coupon: Option<String>,
    /// Stripe, or Creem (the plan's Creem product for the interval).
    pub method: PayMethod,
}

/// Starts a provider checkout for a recurring plan, unless the account already has one.
pub async fn start_recurring(
    state: &AppState,
    account_id: AccountId,
    c: RecurringCheckout,
) -> Result<Checkout, ApiError> {
    if current_recurring(&state.db, account_id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_subscribed",
            "the team already has a subscription: change it with PUT /subscription",
        ));
    }
    let amount = billing::catalog::price_for(&c.plan, c.interval).unwrap_or(billing::Micros::ZERO);
    let order = billing::orders::NewOrder {
        account_id,
        kind: OrderKind::RecurringSubscription,
        status: entities::OrderStatus::Pending,
        method: c.method,
        amount,
        plan_id: Some(c.plan.id),
        details: OrderDetails {
            interval: Some(c.interval),
            success_url: Some(c.success_url),
            cancel_url: Some(c.cancel_url),
            ..OrderDetails::default()
        },
    };
    stripe_checkout_with(state, order, OrderExtras { pool_id: None, coupon: c.coupon }).await
}

/// Enqueues a change of a Stripe subscription for this request and waits for it:
/// `Some(())` once applied, `None` if still running after the wait.
pub async fn run_change(
    state: &AppState,
    account_id: AccountId,
    stripe_subscription_id: String,
    change: Change,
) -> Result<Option<()>, ApiError> {
    if state.settings.stripe_secret_key.is_empty() {
        return Err(stripe_unavailable());
    }
    let job = SubscriptionChange { request_id: uuid::Uuid::now_v7(), account_id, stripe_subscription_id, change };
    match state.submit_and_wait(&job, state.settings.checkout_wait).await? {
        // An upgrade whose prorated invoice was declined: nothing changed.
        Finished::Done(ChangeOutput { outcome: Some(ChangeOutcome::PaymentFailed), .. }) => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            "the prorated invoice for the upgrade was declined; the current plan stays in force",
        )),
        Finished::Done(_) => Ok(Some(())),
        Finished::Dead(error) => {
            tracing::warn!(?error, "subscription change failed");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", "the payment provider refused the change"))
        }
        Finished::Running(_) => Ok(None),
    }
}

/// A change of a Creem subscription: Creem cancels (now or at the period's end) through a
/// job keyed by the request; plan changes and resuming are made in Creem's portal.
pub async fn run_creem_change(
    state: &AppState,
    creem_subscription_id: String,
    change: Change,
) -> Result<Option<()>, ApiError> {
    if !state.settings.creem.enabled() {
        return Err(crate::services::checkout::creem_unavailable());
    }
    let at_period_end = match change {
        Change::CancelAtPeriodEnd => true,
        Change::CancelNow => false,
        Change::Plan { .. } | Change::Resume => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "managed_by_provider",
                "this subscription is paid through Creem: change it in Creem's portal (POST /subscription/portal)",
            ));
        }
    };
    let job = CreemCancel { request_id: uuid::Uuid::now_v7(), creem_subscription_id, at_period_end };
    match state.submit_and_wait(&job, state.settings.checkout_wait).await? {
        Finished::Done(()) => Ok(Some(())),
        Finished::Dead(error) => {
            tracing::warn!(?error, "Creem cancelation failed");
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", "the payment provider refused the change"))
        }
        Finished::Running(_) => Ok(None),
    }
}
