//! What each Creem event does to our books, in the caller's transaction. The effects are
//! the shared ones (see the module root); what is Creem's is how its objects name our order
//! and its payment (a transaction `tran_…`, else the Creem order `ord_…`).

use super::events::{Checkout, Dispute, IdOrObject, Refund, Subscription};
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use crate::stripe::checkout::{self as paid, Outcome as PaidOutcome};
use crate::stripe::{dispute, refund, reversal};
use crate::{AccountId, OrderId};
use entities::accounts::{Column as AccCol, Entity as Accounts};
use entities::orders::{Column as OrderCol, Entity as Orders};
use entities::payments::{self, Column as PayCol, Entity as Payments};
use entities::{OrderKind, PayMethod, PaymentProvider, TransferKind};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

const PROVIDER: PaymentProvider = PaymentProvider::Creem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// A top-up or a 30-day plan, applied (or found applied).
    Paid(PaidOutcome),
    /// A recurring plan's first payment: the order is complete; the worker mirrors the
    /// subscription, owned by `account_id`.
    Subscribed { order_id: OrderId, account_id: AccountId, subscription: String },
    /// Not paid (yet).
    Unpaid,
    /// Not a checkout this system created.
    NotOurs,
}

/// `checkout.completed`. Only a checkout we created counts: the order it names must be a
/// Creem order whose stored checkout id is this one, so no other checkout of the same
/// products (a public payment link, say) can pay for our order.
pub async fn apply_checkout<C: ConnectionTrait>(db: &C, c: &Checkout) -> Result<CheckoutOutcome, DomainError> {
    let Some(order_id) = c.order_id() else { return Ok(CheckoutOutcome::NotOurs) };
    let Some(order) = Orders::find_by_id(order_id).one(db).await? else { return Ok(CheckoutOutcome::NotOurs) };
    if order.method != PayMethod::Creem || order.provider_session_id.as_deref() != Some(c.id.as_str()) {
        tracing::warn!(order = %order_id, checkout = %c.id, "a Creem checkout we did not create names our order");
        return Ok(CheckoutOutcome::NotOurs);
    }
    let paid_order = c.order.as_ref().filter(|o| o.status.as_deref() == Some("paid"));
    let Some(creem_order) = paid_order else { return Ok(CheckoutOutcome::Unpaid) };
    if let Some(customer) = &c.customer {
        remember_customer(db, order.account_id, customer.id()).await?;
    }
    if order.kind == OrderKind::RecurringSubscription {
        let Some(sub) = &c.subscription else {
            return Err(DomainError::Invalid(format!("checkout {} of a recurring plan has no subscription", c.id)));
        };
        crate::orders::mark_completed(db, order_id).await?;
        return Ok(CheckoutOutcome::Subscribed {
            order_id,
            account_id: order.account_id,
            subscription: sub.id().to_owned(),
        });
    }
    // The order's price before tax must be what we asked: never credit more than was paid.
    let asked = order.amount.to_cents();
    if creem_order.amount.is_some_and(|a| a < asked) {
        return Err(DomainError::Invalid(format!(
            "checkout {} paid {:?} cents for an order of {asked}",
            c.id, creem_order.amount
        )));
    }
    let reference = creem_order.transaction.as_ref().map_or(creem_order.id.as_str(), IdOrObject::id);
    let charged = creem_order.amount_paid.or(creem_order.amount);
    let outcome =
        paid::apply_paid_order(db, PROVIDER, order_id, reference, charged, creem_order.currency.as_deref()).await?;
    Ok(CheckoutOutcome::Paid(outcome))
}

/// The account's Creem customer, for its portal link; the first one it paid with stays.
async fn remember_customer<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    customer: &str,
) -> Result<(), DomainError> {
    let taken = Accounts::find().filter(AccCol::CreemCustomerId.eq(customer)).one(db).await?;
    if taken.is_none() {
        Accounts::update_many()
            .col_expr(AccCol::CreemCustomerId, Expr::value(Some(customer.to_owned())))
            .filter(AccCol::Id.eq(account_id))
            .filter(AccCol::CreemCustomerId.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodOutcome {
    Paid {
        granted: Micros,
    },
    AlreadyApplied,
    /// The event names no transaction.
    NoPayment,
}

/// `subscription.paid`: the payment the event names (its own `last_transaction`, not the
/// subscription's latest) is recorded once, its money goes to revenue and the plan's period
/// credits to the customer, all keyed by the transaction (as Stripe's are by the invoice,
/// so refunds and disputes find them the same way).
pub async fn apply_period_paid<C: ConnectionTrait>(
    db: &C,
    sub: &Subscription,
    account_id: AccountId,
    plan: &entities::plans::Model,
) -> Result<PeriodOutcome, DomainError> {
    let Some((transaction, cents)) = sub.last_payment() else { return Ok(PeriodOutcome::NoPayment) };
    if sub.currency().is_some_and(|c| !c.eq_ignore_ascii_case("usd")) {
        return Err(DomainError::Invalid(format!("subscription {} is not paid in USD", sub.id)));
    }
    let paid = Micros::from_cents(cents).ok_or_else(|| DomainError::Invalid("amount out of range".into()))?;
    let recorded = crate::stripe::payment::record(db, PROVIDER, account_id, None, &transaction, paid, Some(&sub.id));
    if !recorded.await? {
        return Ok(PeriodOutcome::AlreadyApplied);
    }
    if paid.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: format!("invoice:{transaction}"),
                debit: ledger::system_account(db, SystemAccount::CreemClearing).await?,
                credit: ledger::system_account(db, SystemAccount::Revenue).await?,
                amount: paid,
                kind: TransferKind::PlanPayment,
                account_id: Some(account_id),
                reference: transaction.clone(),
                description: "Subscription paid (Creem)".into(),
            },
        )
        .await?;
    }
    let granted = plan.credits_per_period;
    if granted.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: format!("invoice-credits:{transaction}"),
                debit: ledger::system_account(db, SystemAccount::Grants).await?,
                credit: ledger::customer_account(db, account_id).await?,
                amount: granted,
                kind: TransferKind::Grant,
                account_id: Some(account_id),
                reference: transaction,
                description: format!("{} plan credits for the period", plan.name),
            },
        )
        .await?;
        crate::api_keys::sync_credit_keys(db, account_id).await?;
    }
    Ok(PeriodOutcome::Paid { granted })
}

/// The payment a refund or dispute names: by its transaction, its Creem order, or the
/// checkout that made our order.
async fn payment_of<C: ConnectionTrait>(
    db: &C,
    transaction: Option<&IdOrObject>,
    order: Option<&IdOrObject>,
    checkout: Option<&IdOrObject>,
) -> Result<Option<payments::Model>, DomainError> {
    let refs: Vec<&str> = [transaction, order].into_iter().flatten().map(IdOrObject::id).collect();
    if let Some(p) = crate::stripe::payment::find_any(db, PROVIDER, &refs).await? {
        return Ok(Some(p));
    }
    let Some(checkout) = checkout else { return Ok(None) };
    let ours = Orders::find()
        .filter(OrderCol::Method.eq(PayMethod::Creem))
        .filter(OrderCol::ProviderSessionId.eq(checkout.id()))
        .one(db)
        .await?;
    let Some(order) = ours else { return Ok(None) };
    Ok(Payments::find().filter(PayCol::Provider.eq(PROVIDER)).filter(PayCol::OrderId.eq(order.id)).one(db).await?)
}

/// `refund.created`: one refund (Creem reports each, not a running total), applied once by
/// its id on top of what was refunded before.
pub async fn apply_refund<C: ConnectionTrait>(db: &C, r: &Refund) -> Result<refund::Outcome, DomainError> {
    if r.status.as_deref().is_some_and(|s| s != "succeeded") {
        return Ok(refund::Outcome::AlreadyApplied);
    }
    let Some(payment) = payment_of(db, r.transaction.as_ref(), r.order.as_ref(), r.checkout.as_ref()).await? else {
        return Ok(refund::Outcome::NotOurs);
    };
    if !reversal::first_time(db, &format!("creem-refund:{}", r.id)).await? {
        return Ok(refund::Outcome::AlreadyApplied);
    }
    let amount =
        Micros::from_cents(r.refund_amount).ok_or_else(|| DomainError::Invalid("refund out of range".into()))?;
    let total = payment
        .amount_refunded
        .checked_add(amount)
        .ok_or_else(|| DomainError::Invalid("refund out of range".into()))?;
    refund::refund_to(db, &payment, total, &r.id).await
}

/// `dispute.created`: the disputed amount is withdrawn as a Stripe dispute's is.
pub async fn apply_dispute<C: ConnectionTrait>(db: &C, d: &Dispute) -> Result<dispute::Outcome, DomainError> {
    let Some(payment) = payment_of(db, d.transaction.as_ref(), d.order.as_ref(), d.checkout.as_ref()).await? else {
        return Ok(dispute::Outcome::NotOurs);
    };
    let shared =
        dispute::Dispute { id: d.id.clone(), amount: d.amount, payment_intent: None, status: "needs_response".into() };
    dispute::apply_to(db, &payment, &shared, false).await
}
