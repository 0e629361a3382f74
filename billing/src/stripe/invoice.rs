//! `invoice.paid`: a subscription's payment. The money is recorded (a payment row and a
//! clearing → revenue transfer) and, for a recurring plan's period invoice, the plan's
//! `credits_per_period` are granted — all keyed by the invoice id, so one paid invoice
//! grants once however often or late its event arrives.

use crate::AccountId;
use crate::OrderId;
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use entities::plans::{Column as PlanCol, Entity as Plans};
use entities::{PaymentProvider, TransferKind};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

/// The fields of a Stripe invoice (2025 shape) we act on.
#[derive(Debug, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub billing_reason: Option<String>,
    #[serde(default)]
    pub amount_paid: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub parent: Option<Parent>,
    #[serde(default)]
    pub lines: Option<Lines>,
}

#[derive(Debug, Deserialize)]
pub struct Parent {
    #[serde(default)]
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Deserialize)]
pub struct SubscriptionDetails {
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct Lines {
    #[serde(default)]
    pub data: Vec<Line>,
}

#[derive(Debug, Deserialize)]
pub struct Line {
    #[serde(default)]
    pub pricing: Option<Pricing>,
}

#[derive(Debug, Deserialize)]
pub struct Pricing {
    #[serde(default)]
    pub price_details: Option<PriceDetails>,
}

#[derive(Debug, Deserialize)]
pub struct PriceDetails {
    #[serde(default)]
    pub price: Option<String>,
}

impl Invoice {
    /// The subscription the invoice bills.
    pub fn subscription(&self) -> Option<&str> {
        self.parent.as_ref()?.subscription_details.as_ref()?.subscription.as_deref()
    }

    fn metadata(&self, key: &str) -> Option<&str> {
        self.parent.as_ref()?.subscription_details.as_ref()?.metadata.as_ref()?.get(key).map(String::as_str)
    }

    fn price(&self) -> Option<&str> {
        self.lines.as_ref()?.data.first()?.pricing.as_ref()?.price_details.as_ref()?.price.as_deref()
    }

    /// An invoice for a whole period (the first or a renewal), as opposed to a proration.
    fn is_period(&self) -> bool {
        matches!(self.billing_reason.as_deref(), Some("subscription_create" | "subscription_cycle"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Paid { account_id: AccountId, granted: Micros },
    AlreadyApplied,
    NotOurs,
}

/// Applies a paid invoice in the caller's transaction.
pub async fn apply_paid<C: ConnectionTrait>(db: &C, inv: &Invoice) -> Result<Outcome, DomainError> {
    if inv.status.as_deref() != Some("paid") || inv.subscription().is_none() {
        return Ok(Outcome::NotOurs);
    }
    let Some(account_id) = inv.metadata("account_id").and_then(|a| a.parse::<AccountId>().ok()) else {
        return Ok(Outcome::NotOurs);
    };
    if entities::accounts::Entity::find_by_id(account_id).one(db).await?.is_none() {
        return Ok(Outcome::NotOurs);
    }
    if inv.currency.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("usd")) {
        return Err(DomainError::Invalid(format!("invoice {} is not in USD", inv.id)));
    }
    let paid = Micros::from_cents(inv.amount_paid).ok_or_else(|| DomainError::Invalid("amount out of range".into()))?;
    let order_id = inv
        .metadata("order_id")
        .and_then(|o| o.parse::<OrderId>().ok())
        .filter(|_| inv.billing_reason.as_deref() == Some("subscription_create"));
    if !super::payment::record(db, PaymentProvider::Stripe, account_id, order_id, &inv.id, paid, inv.subscription())
        .await?
    {
        return Ok(Outcome::AlreadyApplied);
    }
    if paid.is_positive() {
        ledger::post(
            db,
            TransferRequest {
                id: format!("invoice:{}", inv.id),
                debit: ledger::system_account(db, SystemAccount::StripeClearing).await?,
                credit: ledger::system_account(db, SystemAccount::Revenue).await?,
                amount: paid,
                kind: TransferKind::PlanPayment,
                account_id: Some(account_id),
                reference: inv.id.clone(),
                description: "Subscription invoice paid".into(),
            },
        )
        .await?;
    }
    let mut granted = Micros::ZERO;
    if inv.metadata("kind") == Some("recurring") && inv.is_period() {
        let plan = plan_billed(db, inv).await?;
        if let Some(plan) = plan.filter(|p| p.credits_per_period.is_positive()) {
            granted = plan.credits_per_period;
            ledger::post(
                db,
                TransferRequest {
                    id: format!("invoice-credits:{}", inv.id),
                    debit: ledger::system_account(db, SystemAccount::Grants).await?,
                    credit: ledger::customer_account(db, account_id).await?,
                    amount: granted,
                    kind: TransferKind::Grant,
                    account_id: Some(account_id),
                    reference: inv.id.clone(),
                    description: format!("{} plan credits for the period", plan.name),
                },
            )
            .await?;
        }
    }
    Ok(Outcome::Paid { account_id, granted })
}

/// The plan an invoice billed: the one whose Stripe price is on the invoice line, or else
/// the plan named in the subscription's metadata when the invoice was made.
async fn plan_billed<C: ConnectionTrait>(db: &C, inv: &Invoice) -> Result<Option<entities::plans::Model>, DomainError> {
    if let Some(price) = inv.price() {
        let by_price = Plans::find()
            .filter(
                Condition::any().add(PlanCol::StripePriceMonthly.eq(price)).add(PlanCol::StripePriceYearly.eq(price)),
            )
            .one(db)
            .await?;
        if by_price.is_some() {
            return Ok(by_price);
        }
    }
    let Some(id) = inv.metadata("plan_id").and_then(|p| Uuid::parse_str(p).ok()) else { return Ok(None) };
    Ok(Plans::find_by_id(id).one(db).await?)
}
