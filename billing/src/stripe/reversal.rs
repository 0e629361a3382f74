//! What reversing a card payment takes back, shared by refunds and disputes.
//!
//! A payment bought one of: credits (a top-up), a 30-day plan (its order's subscription),
//! or a subscription period (an invoice: revenue, and the plan's period credits when it
//! grants some). Reversing part of it takes back the same part of what it granted:
//!
//! - revenue is reversed by the amount returned to the customer;
//! - credits are taken back in proportion (a top-up: the amount itself; an invoice:
//!   `granted × reversed ÷ paid`), as far as the balance goes — it never goes below zero —
//!   with the rest recorded as a shortfall in the audit log. The balance is read under a
//!   row lock, so a concurrent usage debit waits instead of making the debit fail;
//! - access ends only when the whole payment is reversed (a full refund, a lost dispute):
//!   a 30-day plan's subscription ends and its keys are revoked at once; a Stripe or Creem
//!   subscription is canceled at its provider now, and its mirror ends the access. A partial
//!   refund is a goodwill gesture, as in Stripe and Lago: it keeps the period.

use crate::error::DomainError;
use crate::jobs::contracts::{CreemCancel, SubscriptionChange};
use crate::jobs::{Job, QueuePolicy, outbox};
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use crate::{AccountId, OrderId};
use chrono::Utc;
use entities::ledger_transfers::Entity as Transfers;
use entities::payments;
use entities::{OrderKind, TransferKind};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a payment bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bought {
    /// Credits, as much as was paid.
    Credits,
    /// A 30-day plan: the subscription its order started.
    FlatPlan { order_id: OrderId },
    /// A subscription period: revenue, and `granted` credits with it.
    Period { granted: Micros, subscription_ref: Option<String> },
}

pub async fn bought<C: ConnectionTrait>(db: &C, payment: &payments::Model) -> Result<Bought, DomainError> {
    let order = match payment.order_id {
        Some(id) => entities::orders::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    match order {
        Some(o) if o.kind == OrderKind::Topup => return Ok(Bought::Credits),
        Some(o) if o.kind == OrderKind::PlanCheckout => return Ok(Bought::FlatPlan { order_id: o.id }),
        _ => {}
    }
    let grant = Transfers::find_by_id(format!("invoice-credits:{}", payment.provider_ref)).one(db).await?;
    Ok(Bought::Period {
        granted: grant.map_or(Micros::ZERO, |g| g.amount),
        subscription_ref: payment.subscription_ref.clone(),
    })
}

/// `granted × part ÷ whole`, rounded down; exact in 128 bits.
pub fn share(granted: Micros, part: Micros, whole: Micros) -> Micros {
    if !whole.is_positive() {
        return Micros::ZERO;
    }
    let v = i128::from(granted.get()) * i128::from(part.get().min(whole.get())) / i128::from(whole.get());
    Micros::new(i64::try_from(v).unwrap_or(i64::MAX))
}

/// One taking back of credits.
pub struct Take<'a> {
    pub account_id: AccountId,
    pub want: Micros,
    /// Where the credits go (Stripe clearing for paid credits, grants for granted ones).
    pub to: SystemAccount,
    /// The ledger key: the same key takes once.
    pub key: String,
    pub kind: TransferKind,
    pub reference: &'a str,
    pub description: &'a str,
    /// The audit action naming a shortfall (`refund_shortfall`, `dispute_shortfall`).
    pub shortfall_action: &'a str,
    pub target: String,
}

/// Takes up to `want` from the customer's credits, the balance read under a row lock;
/// returns what was taken and what could not be (recorded as a shortfall).
pub async fn take_credits<C: ConnectionTrait>(db: &C, t: Take<'_>) -> Result<(Micros, Micros), DomainError> {
    if !first_time(db, &format!("credits:{}", t.key)).await? {
        return Ok((Micros::ZERO, Micros::ZERO));
    }
    let credits = ledger::customer_account(db, t.account_id).await?;
    let locked = ledger::batch::lock_customer_accounts(db, &[t.account_id]).await?;
    let balance = locked.first().map_or(Micros::ZERO, |a| a.balance);
    let taken = t.want.min(balance);
    if taken.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: t.key.clone(),
                debit: credits,
                credit: ledger::system_account(db, t.to).await?,
                amount: taken,
                kind: t.kind,
                account_id: Some(t.account_id),
                reference: t.reference.to_owned(),
                description: t.description.to_owned(),
            },
        )
        .await?;
        // A credit key whose balance reached zero stops verifying.
        crate::api_keys::sync_credit_keys(db, t.account_id).await?;
    }
    let shortfall = t.want.checked_sub(taken).unwrap_or(Micros::ZERO);
    if shortfall.is_positive() {
        tracing::warn!(account = %t.account_id, shortfall = %shortfall, action = t.shortfall_action, "credits already spent");
        audit(
            db,
            t.shortfall_action,
            t.target,
            serde_json::json!({"accountId": t.account_id, "reference": t.reference, "wanted": t.want.get(),
                               "taken": taken.get(), "shortfall": shortfall.get()}),
        )
        .await?;
    }
    Ok((taken, shortfall))
}

/// Marks `key` applied; false when it was before (in this transaction's view, so the
/// marker commits or rolls back with the effect).
pub async fn first_time<C: ConnectionTrait>(db: &C, key: &str) -> Result<bool, DomainError> {
    let inserted = entities::applied_effects::Entity::insert(entities::applied_effects::ActiveModel {
        key: Set(key.to_owned()),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing_on([entities::applied_effects::Column::Key])
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// Ends the access a wholly reversed payment bought; `why` is `refunded` or `dispute_lost`.
pub async fn end_access<C: ConnectionTrait>(
    db: &C,
    payment: &payments::Model,
    bought: &Bought,
    why: &str,
) -> Result<(), DomainError> {
    match bought {
        Bought::Credits => {}
        Bought::FlatPlan { order_id } => {
            let ended = crate::subscriptions::end_bought_by(db, *order_id).await?;
            if ended > 0 {
                audit(
                    db,
                    &format!("plan_{why}"),
                    format!("order:{order_id}"),
                    serde_json::json!({"payment": payment.id}),
                )
                .await?;
            }
        }
        Bought::Period { subscription_ref: Some(sub), .. } => {
            // Canceled at the provider by a job in this transaction; the subscription's
            // events then end it here (the mirror, its keys) like any other cancelation.
            let request_id = deterministic_id(&format!("{why}:{}", payment.id));
            let policy = QueuePolicy::default_for(SubscriptionChange::QUEUE);
            let target = if payment.provider == entities::PaymentProvider::Creem {
                let job = CreemCancel { request_id, creem_subscription_id: sub.clone(), at_period_end: false };
                outbox::enqueue(db, &job, &policy).await?;
                format!("creem_subscription:{sub}")
            } else {
                let job = SubscriptionChange {
                    request_id,
                    account_id: payment.account_id,
                    stripe_subscription_id: sub.clone(),
                    change: super::subscription::Change::CancelNow,
                };
                outbox::enqueue(db, &job, &policy).await?;
                format!("stripe_subscription:{sub}")
            };
            audit(db, &format!("subscription_{why}"), target, serde_json::json!({"payment": payment.id})).await?;
        }
        Bought::Period { subscription_ref: None, .. } => {}
    }
    Ok(())
}

/// A UUID that is the same for the same text, so a retried reversal enqueues one job.
fn deterministic_id(text: &str) -> Uuid {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn audit<C: ConnectionTrait>(
    db: &C,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> Result<(), DomainError> {
    entities::audit_log::Entity::insert(entities::audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor: Set("stripe".into()),
        action: Set(action.to_owned()),
        target: Set(target),
        details: Set(details),
        request_id: Set(None),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_proportional_and_never_more_than_granted() {
        let m = Micros::new;
        assert_eq!(share(m(1_000), m(50), m(100)), m(500));
        assert_eq!(share(m(1_000), m(100), m(100)), m(1_000));
        assert_eq!(share(m(1_000), m(150), m(100)), m(1_000), "capped at the whole");
        assert_eq!(share(m(10), m(1), m(3)), m(3), "rounded down");
        assert_eq!(share(m(i64::MAX), m(i64::MAX), m(i64::MAX)), m(i64::MAX));
        assert_eq!(share(m(1_000), m(1), m(0)), Micros::ZERO);
    }

    #[test]
    fn the_same_text_gives_the_same_id() {
        assert_eq!(deterministic_id("refunded:p1"), deterministic_id("refunded:p1"));
        assert_ne!(deterministic_id("refunded:p1"), deterministic_id("refunded:p2"));
    }
}
