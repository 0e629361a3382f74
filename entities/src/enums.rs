//! State enums, stored as short strings so the schema runs on Postgres and SQLite.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    #[sea_orm(string_value = "topup")]
    Topup,
    #[sea_orm(string_value = "plan_checkout")]
    PlanCheckout,
    #[sea_orm(string_value = "pool_subscription")]
    PoolSubscription,
    #[sea_orm(string_value = "recurring_subscription")]
    RecurringSubscription,
    #[sea_orm(string_value = "card_setup")]
    CardSetup,
    #[sea_orm(string_value = "portal")]
    Portal,
    #[sea_orm(string_value = "key_tier")]
    KeyTier,
}

impl OrderKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Topup => "topup",
            Self::PlanCheckout => "plan_checkout",
            Self::PoolSubscription => "pool_subscription",
            Self::RecurringSubscription => "recurring_subscription",
            Self::CardSetup => "card_setup",
            Self::Portal => "portal",
            Self::KeyTier => "key_tier",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "awaiting_payment")]
    AwaitingPayment,
    #[sea_orm(string_value = "completed")]
    Completed,
    #[sea_orm(string_value = "expired")]
    Expired,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "canceled")]
    Canceled,
}

impl OrderStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    #[sea_orm(string_value = "stripe")]
    Stripe,
    #[sea_orm(string_value = "stripe_direct")]
    StripeDirect,
    #[sea_orm(string_value = "usdc")]
    Usdc,
    /// A Creem hosted checkout.
    #[sea_orm(string_value = "creem")]
    Creem,
}

impl PayMethod {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::StripeDirect => "stripe_direct",
            Self::Usdc => "usdc",
            Self::Creem => "creem",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PaymentProvider {
    #[sea_orm(string_value = "stripe")]
    Stripe,
    #[sea_orm(string_value = "usdc")]
    Usdc,
    #[sea_orm(string_value = "manual")]
    Manual,
    #[sea_orm(string_value = "creem")]
    Creem,
}

impl PaymentProvider {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Usdc => "usdc",
            Self::Manual => "manual",
            Self::Creem => "creem",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    #[sea_orm(string_value = "refunded")]
    Refunded,
    #[sea_orm(string_value = "partially_refunded")]
    PartiallyRefunded,
    #[sea_orm(string_value = "disputed")]
    Disputed,
}

impl PaymentStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Disputed => "disputed",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    #[sea_orm(string_value = "flat_30d")]
    #[serde(rename = "flat_30d")]
    Flat30d,
    #[sea_orm(string_value = "recurring")]
    Recurring,
    #[sea_orm(string_value = "key_tier")]
    KeyTier,
}

impl PlanKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flat30d => "flat_30d",
            Self::Recurring => "recurring",
            Self::KeyTier => "key_tier",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    #[sea_orm(string_value = "incomplete")]
    Incomplete,
    #[sea_orm(string_value = "trialing")]
    Trialing,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "past_due")]
    PastDue,
    #[sea_orm(string_value = "canceled")]
    Canceled,
    #[sea_orm(string_value = "paused")]
    Paused,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl SubscriptionStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Paused => "paused",
            Self::Expired => "expired",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum BillingInterval {
    #[sea_orm(string_value = "month")]
    Month,
    #[sea_orm(string_value = "year")]
    Year,
}

impl BillingInterval {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PledgeStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "pending_key")]
    PendingKey,
    #[sea_orm(string_value = "past_due")]
    PastDue,
    #[sea_orm(string_value = "canceled")]
    Canceled,
    #[sea_orm(string_value = "expired")]
    Expired,
}

impl PledgeStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::PendingKey => "pending_key",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyKind {
    #[sea_orm(string_value = "subscription")]
    Subscription,
    #[sea_orm(string_value = "pool")]
    Pool,
    #[sea_orm(string_value = "credit")]
    Credit,
    #[sea_orm(string_value = "tier")]
    Tier,
}

impl ApiKeyKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::Pool => "pool",
            Self::Credit => "credit",
            Self::Tier => "tier",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum KeyTier {
    #[sea_orm(string_value = "free")]
    Free,
    #[sea_orm(string_value = "starter")]
    Starter,
    #[sea_orm(string_value = "growth")]
    Growth,
    #[sea_orm(string_value = "enterprise")]
    Enterprise,
}

impl KeyTier {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Starter => "starter",
            Self::Growth => "growth",
            Self::Enterprise => "enterprise",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "disabled")]
    Disabled,
    #[sea_orm(string_value = "revoked")]
    Revoked,
}

impl KeyStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
            Self::Revoked => "revoked",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum LedgerAccountKind {
    #[sea_orm(string_value = "customer_credits")]
    CustomerCredits,
    #[sea_orm(string_value = "revenue")]
    Revenue,
    #[sea_orm(string_value = "stripe_clearing")]
    StripeClearing,
    #[sea_orm(string_value = "usdc_clearing")]
    UsdcClearing,
    #[sea_orm(string_value = "grants")]
    Grants,
    #[sea_orm(string_value = "refunds")]
    Refunds,
    #[sea_orm(string_value = "usage")]
    Usage,
    #[sea_orm(string_value = "creem_clearing")]
    CreemClearing,
}

impl LedgerAccountKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerCredits => "customer_credits",
            Self::Revenue => "revenue",
            Self::StripeClearing => "stripe_clearing",
            Self::UsdcClearing => "usdc_clearing",
            Self::Grants => "grants",
            Self::Refunds => "refunds",
            Self::Usage => "usage",
            Self::CreemClearing => "creem_clearing",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    #[sea_orm(string_value = "topup")]
    Topup,
    #[sea_orm(string_value = "plan_payment")]
    PlanPayment,
    #[sea_orm(string_value = "usage")]
    Usage,
    #[sea_orm(string_value = "refund")]
    Refund,
    #[sea_orm(string_value = "dispute")]
    Dispute,
    #[sea_orm(string_value = "grant")]
    Grant,
    #[sea_orm(string_value = "checkin")]
    Checkin,
    #[sea_orm(string_value = "manual")]
    Manual,
    #[sea_orm(string_value = "reversal")]
    Reversal,
}

impl TransferKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Topup => "topup",
            Self::PlanPayment => "plan_payment",
            Self::Usage => "usage",
            Self::Refund => "refund",
            Self::Dispute => "dispute",
            Self::Grant => "grant",
            Self::Checkin => "checkin",
            Self::Manual => "manual",
            Self::Reversal => "reversal",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum StripeEventStatus {
    #[sea_orm(string_value = "received")]
    Received,
    #[sea_orm(string_value = "processed")]
    Processed,
    #[sea_orm(string_value = "ignored")]
    Ignored,
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl StripeEventStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processed => "processed",
            Self::Ignored => "ignored",
            Self::Failed => "failed",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum UsdcTransferStatus {
    #[sea_orm(string_value = "claimed")]
    Claimed,
    #[sea_orm(string_value = "credited")]
    Credited,
    #[sea_orm(string_value = "unmatched")]
    Unmatched,
    /// Below `USDC_DUST_BELOW`: recorded once and listed, never matched.
    #[sea_orm(string_value = "dust")]
    Dust,
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

impl UsdcTransferStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Credited => "credited",
            Self::Unmatched => "unmatched",
            Self::Dust => "dust",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "dispatched")]
    Dispatched,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "dead")]
    Dead,
}

impl JobStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Dispatched => "dispatched",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum JobQueue {
    #[sea_orm(string_value = "checkout")]
    Checkout,
    #[sea_orm(string_value = "stripe_event")]
    StripeEvent,
    #[sea_orm(string_value = "usdc_verify")]
    UsdcVerify,
    #[sea_orm(string_value = "usage_metering")]
    UsageMetering,
    #[sea_orm(string_value = "expiry")]
    Expiry,
    #[sea_orm(string_value = "reconcile")]
    Reconcile,
    /// Jobs that do nothing: a probe of the spine for operators and its benchmark.
    #[sea_orm(string_value = "noop")]
    Noop,
    /// Stored Creem events, applied one by one.
    #[sea_orm(string_value = "creem_event")]
    CreemEvent,
    /// Webhooks out to customers' endpoints.
    #[sea_orm(string_value = "webhook_delivery")]
    WebhookDelivery,
}

impl JobQueue {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::StripeEvent => "stripe_event",
            Self::UsdcVerify => "usdc_verify",
            Self::UsageMetering => "usage_metering",
            Self::Expiry => "expiry",
            Self::Reconcile => "reconcile",
            Self::Noop => "noop",
            Self::CreemEvent => "creem_event",
            Self::WebhookDelivery => "webhook_delivery",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyStatus {
    #[sea_orm(string_value = "in_flight")]
    InFlight,
    #[sea_orm(string_value = "completed")]
    Completed,
}

impl IdempotencyStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::Completed => "completed",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum WebhookEndpointStatus {
    #[sea_orm(string_value = "enabled")]
    Enabled,
    /// Failed throughout the retry window (or turned off): nothing is delivered to it.
    #[sea_orm(string_value = "disabled")]
    Disabled,
}

impl WebhookEndpointStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}
