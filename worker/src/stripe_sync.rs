//! Mirrors a Stripe subscription: fetch the object from Stripe (never trust an event's
//! copy, which may be older than what we already applied) and write it with
//! [`billing::stripe::subscription::sync`], under a per-subscription lock held across the
//! fetch so two workers cannot commit in the wrong order.

use crate::jobs::JobError;
use billing::stripe::subscription::{self, Snapshot, Synced};
use entities::BillingInterval;
use sea_orm::DatabaseConnection;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_shared::Subscription;

/// The fields we mirror, from async-stripe's typed subscription.
pub fn snapshot(sub: &Subscription) -> Snapshot {
    let item = sub.items.data.first();
    Snapshot {
        id: sub.id.to_string(),
        status: sub.status.as_str().to_owned(),
        metadata: sub.metadata.clone(),
        cancel_at_period_end: sub.cancel_at_period_end,
        current_period_start: item.map(|i| i.current_period_start),
        current_period_end: item.map(|i| i.current_period_end),
        trial_end: sub.trial_end,
        interval: item.and_then(|i| i.price.recurring.as_ref()).map(|r| match r.interval.as_str() {
            "year" => BillingInterval::Year,
            _ => BillingInterval::Month,
        }),
    }
}

/// Fetches `stripe_id` and mirrors it, in one transaction.
pub async fn refresh(db: &DatabaseConnection, client: &stripe::Client, stripe_id: &str) -> Result<Synced, JobError> {
    let txn = billing::db::begin_write(db).await?;
    subscription::lock(&txn, stripe_id).await?;
    let sub = RetrieveSubscription::new(stripe_id).send(client).await.map_err(crate::stripe_api::classify)?;
    let synced = subscription::sync(&txn, &snapshot(&sub)).await?;
    txn.commit().await?;
    Ok(synced)
}

/// The invoice a PaymentIntent paid, asked of Stripe: since API version 2025-03-31 a
/// charge no longer names its invoice, and our invoice payments are recorded by invoice.
pub async fn invoice_paid_by(client: &stripe::Client, payment_intent: &str) -> Result<Option<String>, JobError> {
    use stripe_billing::invoice_payment::{
        ListInvoicePayment, ListInvoicePaymentPayment, ListInvoicePaymentPaymentType,
    };
    let mut filter = ListInvoicePaymentPayment::new(ListInvoicePaymentPaymentType::PaymentIntent);
    filter.payment_intent = Some(payment_intent.to_owned());
    let list = ListInvoicePayment::new().payment(filter).send(client).await.map_err(crate::stripe_api::classify)?;
    Ok(list.data.into_iter().next().and_then(|p| p.invoice.id().as_ref().map(|id| id.to_string())))
}
