//! Entitlements (subscription API): what a team's plan allows — the plan of its live recurring
//! subscription, or Starter without one — and this month's usage against each limit.
//!
//! Usage is what the gateway reported through `POST /api/v1/usage` under a metric named
//! like the limit (`concurrent_tasks`, `storage_mb`, …): summed over every key of the
//! account for the current UTC month — the same counters metering keeps — or, for a
//! resource reported as a gauge (`kind: gauge`), its last reading.

use crate::AccountId;
use crate::error::DomainError;
use crate::usage::{next_period_start, period_of};
use chrono::{DateTime, Utc};
use entities::plans;
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

/// The plan every team has without a paid subscription.
pub const DEFAULT_PLAN: &str = "starter";

/// One limit of the plan in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub resource: String,
    pub label: String,
    pub unit: String,
    /// `None`: unlimited. `Some(0)`: the feature is not part of the plan.
    pub limit: Option<i64>,
    /// This month's usage, when asked for.
    pub used: Option<i64>,
}

impl Entitlement {
    /// What is left before the cap; `None` when unlimited or not measured.
    pub fn remaining(&self) -> Option<i64> {
        Some(self.limit?.saturating_sub(self.used?).max(0))
    }

    /// Whether 80 % of a positive cap is used (integers: `used * 5 >= limit * 4`).
    pub fn near_limit(&self) -> bool {
        match (self.limit, self.used) {
            (Some(limit), Some(used)) if limit > 0 => i128::from(used) * 5 >= i128::from(limit) * 4,
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entitlements {
    pub plan: plans::Model,
    /// `YYYY-MM`, UTC.
    pub period: String,
    pub resets_at: DateTime<Utc>,
    pub rows: Vec<Entitlement>,
}

/// The plan whose limits apply to the account now.
pub async fn plan_in_force<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<plans::Model, DomainError> {
    if let Some(sub) = crate::stripe::subscription::current_recurring(db, account_id).await?
        && let Some(plan) = <plans::Entity as sea_orm::EntityTrait>::find_by_id(sub.plan_id).one(db).await?
    {
        return Ok(plan);
    }
    crate::catalog::plan_by_slug(db, DEFAULT_PLAN).await?.ok_or(DomainError::NotFound("plan"))
}

/// The account's entitlements; with `with_usage`, this month's usage beside each.
pub async fn for_account<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    with_usage: bool,
    now: DateTime<Utc>,
) -> Result<Entitlements, DomainError> {
    let plan = plan_in_force(db, account_id).await?;
    let period = period_of(now);
    let mut totals: HashMap<String, i64> = HashMap::new();
    if with_usage {
        totals = crate::usage::account_totals(db, account_id, &period).await?;
        // A resource reported as a level is its last reading, not a sum.
        totals.extend(crate::usage::gauges::levels(db, account_id).await?);
    }
    let rows = crate::catalog::limits(db, plan.id)
        .await?
        .into_iter()
        .map(|l| Entitlement {
            used: with_usage.then(|| totals.get(&l.key).copied().unwrap_or(0)),
            resource: l.key,
            label: l.label,
            unit: l.unit,
            limit: l.value,
        })
        .collect();
    Ok(Entitlements { plan, period, resets_at: next_period_start(now), rows })
}

/// What a plan limit says about spending `cost` more of a resource this month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitCheck {
    /// The metric is no limit of the plan, or its limit is unlimited.
    Unlimited,
    Within {
        limit: i64,
        used: i64,
    },
    /// `used + cost` would pass `limit` (402 `limit_exceeded`).
    Exceeded {
        limit: i64,
        used: i64,
    },
    /// The plan's limit is 0: the feature is not part of it (403 `feature_not_available`).
    NotInPlan {
        used: i64,
    },
}

/// Checks one request against the plan in force: the use of `resource` — its last reading
/// when the gateway reports it as a gauge, else this month's sum over the account's keys —
/// plus `cost` against the plan's limit. Returns the plan with the verdict, for the upgrade recommendation.
pub async fn check_limit<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    resource: &str,
    cost: i64,
    now: DateTime<Utc>,
) -> Result<(plans::Model, LimitCheck), DomainError> {
    let plan = plan_in_force(db, account_id).await?;
    let limit =
        crate::catalog::limits(db, plan.id).await?.into_iter().find(|l| l.key == resource).and_then(|l| l.value);
    let Some(limit) = limit else { return Ok((plan, LimitCheck::Unlimited)) };
    let used = match crate::usage::gauges::level(db, account_id, resource).await? {
        Some(level) => level,
        None => crate::usage::account_total(db, account_id, resource, &period_of(now)).await?,
    };
    let verdict = if limit == 0 {
        LimitCheck::NotInPlan { used }
    } else if used.saturating_add(cost) > limit {
        LimitCheck::Exceeded { limit, used }
    } else {
        LimitCheck::Within { limit, used }
    };
    Ok((plan, verdict))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(limit: Option<i64>, used: Option<i64>) -> Entitlement {
        Entitlement { resource: "triggers".into(), label: "triggers".into(), unit: String::new(), limit, used }
    }

    #[test]
    fn remaining_is_never_negative_and_unknown_when_unlimited() {
        assert_eq!(row(Some(10), Some(3)).remaining(), Some(7));
        assert_eq!(row(Some(10), Some(12)).remaining(), Some(0));
        assert_eq!(row(None, Some(12)).remaining(), None);
        assert_eq!(row(Some(10), None).remaining(), None);
    }

    #[test]
    fn near_limit_from_eighty_percent_of_a_positive_cap() {
        assert!(!row(Some(10), Some(7)).near_limit());
        assert!(row(Some(10), Some(8)).near_limit());
        assert!(row(Some(10), Some(12)).near_limit());
        assert!(!row(Some(5), Some(3)).near_limit(), "60 %");
        assert!(row(Some(5), Some(4)).near_limit(), "80 % exactly");
        assert!(!row(None, Some(1_000_000)).near_limit(), "unlimited");
        assert!(!row(Some(0), Some(0)).near_limit(), "not in the plan");
    }
}
