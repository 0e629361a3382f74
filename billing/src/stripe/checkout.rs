//! `checkout.session.completed` (and its async sibling) for a credit top-up: the order
//! completes and the customer's credits grow by one transfer, exactly once.

use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use crate::orders;
use chrono::Utc;
use entities::orders::Entity as Orders;
use entities::payments::{self, Column as PayCol, Entity as Payments};
use entities::{OrderKind, PaymentProvider, PaymentStatus, TransferKind};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Deserialize;
use uuid::Uuid;

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
}

impl CheckoutSession {
    /// Our order id, from the metadata we set or the client reference.
    pub fn order_id(&self) -> Option<Uuid> {
        self.metadata.get("order_id").or(self.client_reference_id.as_ref()).and_then(|s| Uuid::parse_str(s).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Credited {
        order_id: Uuid,
        amount: Micros,
    },
    AlreadyCredited {
        order_id: Uuid,
    },
    /// Paid later (bank debits): `checkout.session.async_payment_succeeded` completes it.
    AwaitingPayment,
    /// Not one of our top-up orders.
    NotOurs,
}

/// Applies a completed, paid checkout session for a top-up. Runs in the caller's
/// transaction; safe to run any number of times, concurrently.
pub async fn credit_topup<C: ConnectionTrait>(db: &C, session: &CheckoutSession) -> Result<Outcome, DomainError> {
    if session.payment_status.as_deref() != Some("paid") {
        return Ok(Outcome::AwaitingPayment);
    }
    let Some(order_id) = session.order_id() else {
        return Ok(Outcome::NotOurs);
    };
    let Some(order) = Orders::find_by_id(order_id).one(db).await? else {
        return Ok(Outcome::NotOurs);
    };
    if order.kind != OrderKind::Topup {
        return Ok(Outcome::NotOurs);
    }
    if session.currency.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case(&order.currency)) {
        return Err(DomainError::Invalid(format!("session {} paid in another currency", session.id)));
    }
    let amount = Micros::new(order.amount);
    // What Stripe says it charged; the order's amount is what the customer bought.
    let charged = session.amount_total.and_then(Micros::from_cents).unwrap_or(amount);
    let now = Utc::now();
    Payments::insert(payments::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(order.account_id),
        order_id: Set(Some(order.id)),
        provider: Set(PaymentProvider::Stripe),
        provider_ref: Set(session.id.clone()),
        amount: Set(charged.get()),
        amount_refunded: Set(0),
        status: Set(PaymentStatus::Succeeded),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([PayCol::Provider, PayCol::ProviderRef])
    .exec_without_returning(db)
    .await?;
    orders::mark_completed(db, order.id).await?;
    let debit = ledger::system_account(db, SystemAccount::StripeClearing).await?;
    let credit = ledger::customer_account(db, order.account_id).await?;
    // Keyed by the order: whichever event (completed, async success, reconciliation)
    // arrives first credits it, the rest find the transfer posted.
    let posted = ledger::post(
        db,
        TransferRequest {
            id: format!("topup:{}", order.id),
            debit,
            credit,
            amount,
            kind: TransferKind::Topup,
            account_id: Some(order.account_id),
            reference: session.id.clone(),
            description: "Credit top-up (card)".into(),
        },
    )
    .await?;
    Ok(match posted {
        ledger::Posted::New(_) => Outcome::Credited { order_id: order.id, amount },
        ledger::Posted::Existing(_) => Outcome::AlreadyCredited { order_id: order.id },
    })
}
