//! Subscriptions: 30-day flat, recurring (Stripe) and key tiers.

use crate::enums::*;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: crate::ids::AccountId,
    pub plan_id: Uuid,
    pub kind: PlanKind,
    pub status: SubscriptionStatus,
    pub interval: Option<BillingInterval>,
    #[sea_orm(column_type = "Text")]
    pub stripe_subscription_id: Option<String>,
    /// The Creem subscription this one mirrors (a subscription is paid by one provider).
    #[sea_orm(column_type = "Text", nullable)]
    pub creem_subscription_id: Option<String>,
    pub current_period_start: Option<DateTimeUtc>,
    pub current_period_end: Option<DateTimeUtc>,
    pub cancel_at_period_end: bool,
    pub pending_plan_id: Option<Uuid>,
    pub provider_version: i64,
    /// The order that bought a 30-day plan (none for Stripe subscriptions).
    pub order_id: Option<crate::ids::OrderId>,
    /// When the trial ends, if the subscription has one.
    pub trial_end: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
