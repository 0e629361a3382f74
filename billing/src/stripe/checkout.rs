//! `checkout.session.completed` (and its async sibling): a paid top-up becomes credits, a
//! paid 30-day plan a subscription — each exactly once.

use crate::OrderId;
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use crate::orders;
use chrono::Utc;
use entities::orders::Entity as Orders;
use entities::plans::Entity as Plans;
use entities::{OrderKind, PaymentProvider, TransferKind};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::Deserialize;

/// The fields of a Checkout Session we act on.
#[derive(Debug, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub metadata: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    /// The subscription a subscription-mode session started.
    #[serde(default)]
    pub subscription: Option<String>,
}

impl CheckoutSession {
    /// Our order id, from the metadata we set or the client reference.
    pub fn order_id(&self) -> Option<OrderId> {
        self.metadata.get("order_id").or(self.client_reference_id.as_ref()).and_then(|s| s.parse().ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Credited {
        order_id: OrderId,
        amount: Micros,
    },
    Activated {
        order_id: OrderId,
        expires_at: chrono::DateTime<Utc>,
    },
    /// Applied before (another event for the same payment, or a redelivery).
    AlreadyApplied {
        order_id: OrderId,
    },
    /// Paid later (bank debits): `checkout.session.async_payment_succeeded` completes it.
    AwaitingPayment,
    /// Not one of our orders.
    NotOurs,
}

/// Applies a completed, paid checkout session: a top-up credits the customer, a 30-day
/// plan starts. Runs in the caller's transaction; safe to run any number of times,
/// concurrently: the ledger transfer is keyed by the order, and it is posted first, so a
/// second run stops there.
pub async fn apply_paid<C: ConnectionTrait>(db: &C, session: &CheckoutSession) -> Result<Outcome, DomainError> {
    if session.payment_status.as_deref() != Some("paid") {
        return Ok(Outcome::AwaitingPayment);
    }
    let Some(order_id) = session.order_id() else { return Ok(Outcome::NotOurs) };
    // The PaymentIntent is the payment's identity in later events (refunds, disputes).
    let reference = session.payment_intent.clone().unwrap_or_else(|| session.id.clone());
    apply_paid_order(
        db,
        PaymentProvider::Stripe,
        order_id,
        &reference,
        session.amount_total,
        session.currency.as_deref(),
    )
    .await
}

/// Applies a paid order, however it was paid by card (a Stripe Checkout or a PaymentIntent
/// charged off-session on a saved card, a Creem checkout). `reference` is the provider's
/// payment id (PaymentIntent or session, Creem transaction): later refunds and disputes name it.
pub async fn apply_paid_order<C: ConnectionTrait>(
    db: &C,
    provider: PaymentProvider,
    order_id: OrderId,
    reference: &str,
    charged_cents: Option<i64>,
    currency: Option<&str>,
) -> Result<Outcome, DomainError> {
    let Some(order) = Orders::find_by_id(order_id).one(db).await? else {
        return Ok(Outcome::NotOurs);
    };
    let plan = match order.kind {
        OrderKind::Topup => None,
        OrderKind::PlanCheckout => {
            let plan_id =
                order.plan_id.ok_or_else(|| DomainError::Invalid(format!("order {} has no plan", order.id)))?;
            Some(Plans::find_by_id(plan_id).one(db).await?.ok_or(DomainError::NotFound("plan"))?)
        }
        _ => return Ok(Outcome::NotOurs),
    };
    if currency.is_some_and(|c| !c.eq_ignore_ascii_case(&order.currency)) {
        return Err(DomainError::Invalid(format!("payment {reference} was made in another currency")));
    }
    let amount = order.amount;
    // What the provider says it charged; the order's amount is what the customer bought.
    let charged = charged_cents.and_then(Micros::from_cents).unwrap_or(amount);
    let debit = ledger::system_account(db, SystemAccount::clearing(provider)).await?;
    let (credit, kind, description) = match &plan {
        None => (
            ledger::customer_account(db, order.account_id).await?,
            TransferKind::Topup,
            format!("Credit top-up ({})", card_label(provider)),
        ),
        Some(p) => (
            ledger::system_account(db, SystemAccount::Revenue).await?,
            TransferKind::PlanPayment,
            format!("{} plan, 30 days ({})", p.name, card_label(provider)),
        ),
    };
    let posted = ledger::post(
        db,
        TransferRequest {
            id: format!("order:{}", order.id),
            debit,
            credit,
            amount,
            kind,
            account_id: Some(order.account_id),
            reference: reference.to_owned(),
            description,
        },
    )
    .await?;
    if let ledger::Posted::Existing(_) = posted {
        return Ok(Outcome::AlreadyApplied { order_id: order.id });
    }
    super::payment::record(db, provider, order.account_id, Some(order.id), reference, charged, None).await?;
    orders::mark_completed(db, order.id).await?;
    Ok(match plan {
        None => {
            crate::webhooks::emit(db, topped_up(order.account_id, order.id, amount)).await?;
            Outcome::Credited { order_id: order.id, amount }
        }
        Some(plan) => {
            let expires_at = crate::subscriptions::activate_flat(db, order.account_id, &plan, order.id).await?;
            Outcome::Activated { order_id: order.id, expires_at }
        }
    })
}

/// How a transfer's description names the way it was paid.
fn card_label(provider: PaymentProvider) -> &'static str {
    match provider {
        PaymentProvider::Creem => "Creem",
        _ => "card",
    }
}

/// The `credits.topped_up` fact of a paid top-up order.
pub fn topped_up(account_id: crate::AccountId, order_id: OrderId, amount: Micros) -> crate::webhooks::Fact {
    crate::webhooks::Fact {
        account_id,
        kind: crate::webhooks::EventType::CreditsToppedUp,
        key: format!("topup:{order_id}"),
        data: serde_json::json!({"orderId": order_id, "credits": amount.to_credits()}),
    }
}
