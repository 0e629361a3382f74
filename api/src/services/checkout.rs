//! Starting a card payment: the order and its checkout job recorded in one transaction,
//! then a short wait for the worker to get the provider's answer. Every surface that sells
//! by card (top-ups, 30-day plans, recurring plans, pools, key tiers, card setup, the
//! portal) goes through [`provider_checkout`], Stripe's or Creem's by the order's method.

use crate::error::ApiError;
use crate::jobs::Finished;
use crate::state::AppState;
use axum::http::StatusCode;
use billing::jobs::contracts::{Checkout as CheckoutJob, CheckoutOutput};
use billing::orders::NewOrder;

/// What became of a checkout request after the short wait.
pub enum Checkout {
    /// The checkout job's result: a session, a portal link, a SetupIntent, or a charge.
    Ready(CheckoutOutput),
    Pending {
        order_id: billing::OrderId,
    },
}

/// What some orders carry beyond [`billing::orders::NewOrder`].
#[derive(Debug, Default)]
pub struct OrderExtras {
    pub pool_id: Option<uuid::Uuid>,
    /// A coupon code, redeemed in the order's transaction (a refusal changes nothing).
    pub coupon: Option<String>,
}

/// Records the order and its checkout job together, then waits briefly for the worker to
/// create the Stripe session: the session if it is quick, the order id to poll if not.
pub async fn stripe_checkout(state: &AppState, order: NewOrder) -> Result<Checkout, ApiError> {
    stripe_checkout_with(state, order, OrderExtras::default()).await
}

pub async fn stripe_checkout_with(
    state: &AppState,
    order: NewOrder,
    extras: OrderExtras,
) -> Result<Checkout, ApiError> {
    provider_checkout(state, order, extras).await
}

/// Records the order and its checkout job, for the card provider the order's method names
/// (Stripe or Creem), and waits briefly for the worker to open the provider's checkout.
pub async fn provider_checkout(state: &AppState, order: NewOrder, extras: OrderExtras) -> Result<Checkout, ApiError> {
    match order.method {
        entities::PayMethod::Creem if !state.settings.creem.enabled() => return Err(creem_unavailable()),
        entities::PayMethod::Creem => {}
        _ if state.settings.stripe_secret_key.is_empty() => return Err(stripe_unavailable()),
        _ => {}
    }
    let txn = billing::db::begin_write(&state.db).await?;
    let order = billing::orders::record(&txn, order, extras.pool_id, extras.coupon.as_deref()).await?;
    let job = state.submit(&txn, &CheckoutJob { order_id: order.id }).await?;
    txn.commit().await?;
    state.dispatch::<CheckoutJob>(job).await;
    match state.wait_for::<CheckoutJob>(job.job_id, state.settings.checkout_wait).await? {
        Finished::Done(output) => Ok(Checkout::Ready(output)),
        Finished::Dead(error) => {
            tracing::warn!(order = %order.id, ?error, "checkout failed");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "checkout_failed",
                "the payment provider could not start a checkout",
            ))
        }
        Finished::Running(_) => Ok(Checkout::Pending { order_id: order.id }),
    }
}

/// Card payments need `STRIPE_SECRET_KEY`.
pub fn stripe_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "method_unavailable",
        "card payments are not available on this server yet",
    )
}

/// Creem payments need `CREEM_API_KEY`.
pub fn creem_unavailable() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "method_unavailable", "Creem payments are not available on this server")
}
