//! The subscription API's structured limit errors: for a refused request, the status and code to answer
//! (402 `limit_exceeded`, 403 `feature_not_available`) and the cheapest plan that would
//! have let it through — what the workspace's upgrade modal marks as recommended.

use crate::api_keys::{rank, tier_limits};
use crate::entitlements::LimitCheck;
use crate::error::DomainError;
use crate::verify::{KeyInfo, Reason};
use entities::{ApiKeyKind, KeyTier, PlanKind};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// How a refusal reads to the gateway's client.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub metadata: Value,
}

fn plan_json(p: &entities::plans::Model) -> Value {
    json!({"id": p.slug, "name": p.name, "price_monthly": p.price_monthly.map(|m| m.to_cents())})
}

/// The catalog a refusal's explanation reads, if any: a tier key's rate or quota names the
/// key tiers above it, no credits the recurring plans that grant them. The caller reads it
/// (the api through its cache: refusals come in floods, and each must not cost a query).
pub fn catalog_needed(info: &KeyInfo, reason: Reason) -> Option<PlanKind> {
    match reason {
        Reason::RateLimited | Reason::QuotaExceeded if info.key.kind == ApiKeyKind::Tier => Some(PlanKind::KeyTier),
        Reason::NoCredits => Some(PlanKind::Recurring),
        _ => None,
    }
}

/// The refusal, explained from `plans` (the active plans of [`catalog_needed`]'s kind, in
/// catalog order); `None` for reasons no plan resolves (revoked, expired, unknown).
pub fn explain(info: &KeyInfo, reason: Reason, used: u64, plans: &[entities::plans::Model]) -> Option<LimitError> {
    let limits = info.limits();
    Some(match reason {
        Reason::RateLimited | Reason::QuotaExceeded if info.key.kind == ApiKeyKind::Tier => {
            let current = info.tier();
            // Key tiers sold by checkout, cheapest first; past them, Enterprise by contract.
            let mut tiers: Vec<(KeyTier, &entities::plans::Model)> = plans
                .iter()
                .filter(|p| p.kind == PlanKind::KeyTier)
                .filter_map(|p| crate::stripe::subscription::tier_of_slug(&p.slug).map(|t| (t, p)))
                .filter(|(t, _)| rank(*t) > rank(current))
                .collect();
            tiers.sort_by_key(|(_, p)| p.price_monthly.map_or(i64::MAX, |m| m.get()));
            let recommended = match tiers.first() {
                Some((t, p)) => json!({"tier": t, "plan": plan_json(p), "rateLimit": tier_limits(*t).0,
                                       "monthlyQueryLimit": tier_limits(*t).1}),
                None => json!({"tier": KeyTier::Enterprise, "plan": null, "contact": "sales",
                               "rateLimit": tier_limits(KeyTier::Enterprise).0, "monthlyQueryLimit": null}),
            };
            let (resource, limit) = if reason == Reason::RateLimited {
                ("requests_per_second", limits.per_second.map(u64::from))
            } else {
                ("monthly_queries", limits.monthly)
            };
            LimitError {
                status: 402,
                code: "limit_exceeded",
                message: format!("the {resource} limit of the {current:?} tier is reached"),
                metadata: json!({"resource": resource, "limit": limit, "used": used, "current_tier": current,
                                 "recommended": recommended}),
            }
        }
        Reason::RateLimited => LimitError {
            status: 402,
            code: "limit_exceeded",
            message: "the requests_per_second limit is reached".into(),
            metadata: json!({"resource": "requests_per_second", "limit": limits.per_second, "recommended": null}),
        },
        Reason::NoCredits => {
            // The cheapest recurring plan that includes monthly credits, or a top-up.
            let mut plans: Vec<&entities::plans::Model> = plans
                .iter()
                .filter(|p| p.kind == PlanKind::Recurring)
                .filter(|p| p.credits_per_period.is_positive() && crate::catalog::self_serve(p))
                .collect();
            plans.sort_by_key(|p| p.price_monthly.map_or(i64::MAX, |m| m.get()));
            LimitError {
                status: 402,
                code: "limit_exceeded",
                message: "the account has no credits left".into(),
                metadata: json!({"resource": "credits", "limit": 0, "used": 0,
                                 "recommended": plans.first().map(|p| plan_json(p)), "topup": "/api/billing/topup"}),
            }
        }
        Reason::OutsideReservedHours => {
            let now = chrono::Utc::now();
            let block = crate::pools::BLOCKS
                .iter()
                .find(|(_, start, end)| crate::verify::in_blocks(&[(*start, *end)], now))
                .map(|(name, _, _)| *name);
            LimitError {
                status: 403,
                code: "feature_not_available",
                message: "this pool key is outside its reserved hours".into(),
                metadata: json!({"resource": "reserved_block", "current_block": block,
                                 "recommended": {"add_block": block, "subscribe": "/api/pools/{slug}/subscribe"}}),
            }
        }
        Reason::QuotaExceeded => LimitError {
            status: 402,
            code: "limit_exceeded",
            message: "the monthly quota is reached".into(),
            metadata: json!({"resource": "monthly_queries", "limit": limits.monthly, "used": used, "recommended": null}),
        },
        // Plan limits are explained by [`explain_plan_limit`], which knows the resource.
        Reason::NotFound | Reason::Revoked | Reason::Expired | Reason::LimitExceeded | Reason::FeatureNotAvailable => {
            return None;
        }
    })
}

/// A refusal by a plan limit (`POST /api/v1/keys/verify` with a `metric` that names one):
/// 402 `limit_exceeded` or 403 `feature_not_available`, with the resource, its limit, this
/// month's use, and the recommended plan — the cheapest self-serve plan whose limit lets
/// `used + cost` through, or, when none does, a plan sold by contact (Enterprise).
pub async fn explain_plan_limit<C: ConnectionTrait>(
    db: &C,
    current: &entities::plans::Model,
    resource: &str,
    check: &LimitCheck,
    cost: i64,
) -> Result<Option<LimitError>, DomainError> {
    let (status, code, limit, used) = match *check {
        LimitCheck::Exceeded { limit, used } => (402, "limit_exceeded", limit, used),
        LimitCheck::NotInPlan { used } => (403, "feature_not_available", 0, used),
        LimitCheck::Unlimited | LimitCheck::Within { .. } => return Ok(None),
    };
    let needed = used.saturating_add(cost);
    let current_price = current.price_monthly.map_or(0, |m| m.get());
    let mut fits = Vec::new();
    for plan in crate::catalog::plans_of_kind(db, PlanKind::Recurring).await? {
        if plan.id == current.id || plan.price_monthly.is_some_and(|m| m.get() < current_price) {
            continue;
        }
        let cap = crate::catalog::limits(db, plan.id).await?.into_iter().find(|l| l.key == resource);
        // A plan that does not name the resource does not promise it.
        let allows = cap.is_some_and(|l| l.value.is_none_or(|v| v > 0 && v >= needed));
        if allows {
            fits.push(plan);
        }
    }
    // Self-serve plans first (cheapest first), then plans sold by contact.
    fits.sort_by_key(|p| (!crate::catalog::self_serve(p), p.price_monthly.map_or(i64::MAX, |m| m.get())));
    let recommended = fits.first().map(|p| {
        let mut j = plan_json(p);
        if !crate::catalog::self_serve(p) {
            j["contact"] = json!("sales");
        }
        j
    });
    let message = if status == 403 {
        format!("{resource} is not part of the {} plan", current.name)
    } else {
        format!("the {resource} limit of the {} plan is reached ({used} of {limit} used)", current.name)
    };
    Ok(Some(LimitError {
        status,
        code,
        message,
        metadata: json!({"resource": resource, "limit": limit, "used": used, "requested": cost,
                         "current_plan": current.slug, "recommended": recommended}),
    }))
}
