//! Key verification for the gateway: is this key good for one more request, and why not.
//!
//! Two halves. [`KeyInfo::load`] reads what Postgres knows about a key (status, expiry, its
//! subscription or pledge, the credit balance); [`KeyInfo::check`] turns that into a reason
//! or a go-ahead. Then [`Limiter::admit`] runs the counters that must be exact across api
//! processes — the per-second rate and the monthly quota — in one Redis script, so a
//! request is admitted by both or charged to neither.
//!
//! Limits by kind (decided where the key-tier API is silent): tier keys use the key-tier API's table; credit and
//! subscription keys the Starter rate (100/s) with no monthly cap (credits and the plan's
//! period are their caps); pool keys are unlimited inside their reserved blocks.

use crate::api_keys::tier_limits;
use crate::error::DomainError;
use crate::money::Micros;
use chrono::{DateTime, Timelike, Utc};
use entities::api_keys::{self, Column, Entity as Keys};
use entities::{ApiKeyKind, KeyStatus, KeyTier, PledgeStatus, SubscriptionStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use uuid::Uuid;

/// Why a key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NotFound,
    Revoked,
    Expired,
    RateLimited,
    QuotaExceeded,
    NoCredits,
    OutsideReservedHours,
    /// The request's `metric` is a plan limit and this month's use plus its cost passes it.
    LimitExceeded,
    /// The request's `metric` is a plan limit of 0: not part of the plan.
    FeatureNotAvailable,
}

/// Everything about a key the verdict depends on, as of one read.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub key: api_keys::Model,
    /// The end of the subscription or pledge period behind the key, if any.
    pub period_end: Option<DateTime<Utc>>,
    /// Whether the subscription or pledge behind the key still runs.
    pub backing_live: bool,
    /// Reserved daily blocks (pool keys): `(start hour, end hour)` in UTC.
    pub blocks: Vec<(u32, u32)>,
    pub credits: Micros,
}

/// The counters that apply to a key: requests per second, and a monthly quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_second: Option<u32>,
    pub monthly: Option<u64>,
}

impl KeyInfo {
    /// Reads a key by its hash, or by id; `None` when there is no such key.
    pub async fn load<C: ConnectionTrait>(db: &C, by: KeyRef<'_>) -> Result<Option<KeyInfo>, DomainError> {
        let found = match by {
            KeyRef::Hash(h) => Keys::find().filter(Column::KeyHash.eq(h)).one(db).await?,
            KeyRef::Id(id) => Keys::find_by_id(id).one(db).await?,
        };
        let Some(key) = found else { return Ok(None) };
        let mut info = KeyInfo { period_end: None, backing_live: true, blocks: Vec::new(), credits: Micros::ZERO, key };
        if let Some(sub) = info.key.subscription_id {
            let s = entities::subscriptions::Entity::find_by_id(sub).one(db).await?;
            info.period_end = s.as_ref().and_then(|s| s.current_period_end);
            info.backing_live = s.is_some_and(|s| {
                matches!(
                    s.status,
                    SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
                )
            });
        }
        if let Some(pledge) = info.key.pledge_id {
            let p = entities::pool_pledges::Entity::find_by_id(pledge).one(db).await?;
            info.blocks = p.as_ref().map(|p| block_hours(&p.blocks)).unwrap_or_default();
            info.backing_live = p.is_some_and(|p| {
                matches!(p.status, PledgeStatus::Active | PledgeStatus::PendingKey | PledgeStatus::PastDue)
            });
        }
        if info.key.kind == ApiKeyKind::Credit {
            info.credits = crate::ledger::customer_balance(db, info.key.account_id).await?;
        }
        Ok(Some(info))
    }

    /// The tier a key is reported with (non-tier keys report the account's Starter row).
    pub fn tier(&self) -> KeyTier {
        self.key.tier.unwrap_or(KeyTier::Starter)
    }

    /// Whose counters a request is charged to. Never the key alone: an account could
    /// otherwise buy quota by creating keys. Tier keys share their account's counters of
    /// their tier, credit keys their account's; subscription keys their subscription's;
    /// pool keys their pledge's.
    pub fn counter_subject(&self) -> String {
        let k = &self.key;
        match k.kind {
            ApiKeyKind::Tier => format!("tier:{}:{}", k.account_id, self.tier().as_str()),
            ApiKeyKind::Credit => format!("credit:{}", k.account_id),
            ApiKeyKind::Subscription => format!("sub:{}", k.subscription_id.unwrap_or(k.id)),
            ApiKeyKind::Pool => format!("pool:{}", k.pledge_id.unwrap_or(k.id)),
        }
    }

    pub fn limits(&self) -> Limits {
        match self.key.kind {
            ApiKeyKind::Tier => {
                let (rps, monthly) = tier_limits(self.tier());
                Limits { per_second: Some(rps), monthly }
            }
            ApiKeyKind::Credit | ApiKeyKind::Subscription => {
                Limits { per_second: Some(tier_limits(KeyTier::Starter).0), monthly: None }
            }
            ApiKeyKind::Pool => Limits { per_second: None, monthly: None },
        }
    }

    /// The verdict that needs no counter: revoked, expired, out of hours, out of credits.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), Reason> {
        if self.key.status == KeyStatus::Revoked {
            return Err(Reason::Revoked);
        }
        let ended = self.key.expires_at.is_some_and(|t| t <= now) || self.period_end.is_some_and(|t| t <= now);
        if !self.backing_live || ended {
            return Err(Reason::Expired);
        }
        if self.key.kind == ApiKeyKind::Pool && !in_blocks(&self.blocks, now) {
            return Err(Reason::OutsideReservedHours);
        }
        if self.key.kind == ApiKeyKind::Credit
            && (self.key.status == KeyStatus::Disabled || !self.credits.is_positive())
        {
            return Err(Reason::NoCredits);
        }
        Ok(())
    }
}

/// How the gateway names a key.
#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    Hash(&'a str),
    Id(Uuid),
}

/// A pledge's block names as UTC hour ranges.
fn block_hours(blocks: &serde_json::Value) -> Vec<(u32, u32)> {
    let names: Vec<String> = serde_json::from_value(blocks.clone()).unwrap_or_default();
    crate::pools::BLOCKS
        .iter()
        .filter(|(n, _, _)| names.iter().any(|b| b == n))
        .map(|(_, start, end)| (*start, *end))
        .collect()
}

/// Whether `now` falls in one of the blocks: `[start, end)` in whole UTC hours.
pub fn in_blocks(blocks: &[(u32, u32)], now: DateTime<Utc>) -> bool {
    let hour = now.hour();
    blocks.iter().any(|(start, end)| (*start..*end).contains(&hour))
}

/// The `usage.quota_reached` facts of one verification: 80 % and 100 % of the monthly quota,
/// each once a month per counter (its key), when this request's cost took `used` across it,
/// or when the quota refused it.
pub fn quota_facts(
    info: &KeyInfo,
    monthly: Option<u64>,
    cost: u64,
    admission: &Admission,
    now: DateTime<Utc>,
) -> Vec<crate::webhooks::Fact> {
    let Some(limit) = monthly.filter(|l| *l > 0) else { return Vec::new() };
    let used = admission.used;
    let before = if admission.allowed { used.saturating_sub(cost) } else { used };
    let subject = info.counter_subject();
    let period = crate::usage::period_of(now);
    [80u64, 100]
        .into_iter()
        .filter(|pct| {
            let mark = (limit * pct).div_ceil(100);
            (before < mark && used >= mark) || (*pct == 100 && admission.reason == Some(Reason::QuotaExceeded))
        })
        .map(|pct| crate::webhooks::Fact {
            account_id: info.key.account_id,
            kind: crate::webhooks::EventType::UsageQuotaReached,
            key: format!("quota:{subject}:{period}:{pct}"),
            data: serde_json::json!({"keyId": info.key.id, "percent": pct, "used": used, "limit": limit,
                                     "period": period}),
        })
        .collect()
}

/// What the counters said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub allowed: bool,
    pub reason: Option<Reason>,
    /// Requests per second; 0 when unlimited.
    pub rate_limit: u32,
    pub rate_remaining: u32,
    /// Unix milliseconds at which one more request will be admitted by the rate limit.
    pub rate_reset_ms: i64,
    /// This month's admitted cost, after this request when admitted.
    pub used: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::tests::at;

    #[test]
    fn a_block_starts_and_ends_on_the_hour() {
        let europe = [(8, 16)];
        assert!(!in_blocks(&europe, at("2026-11-23T07:59:59.999Z")), "just before");
        assert!(in_blocks(&europe, at("2026-11-23T08:00:00Z")), "just inside, at the start");
        assert!(in_blocks(&europe, at("2026-11-23T15:59:59.999Z")), "just inside, at the end");
        assert!(!in_blocks(&europe, at("2026-11-23T16:00:00Z")), "just after");
        let asia_americas = [(0, 8), (16, 24)];
        assert!(in_blocks(&asia_americas, at("2026-11-23T23:59:59Z")));
        assert!(in_blocks(&asia_americas, at("2026-11-24T00:00:00Z")));
        assert!(!in_blocks(&asia_americas, at("2026-11-23T12:00:00Z")));
    }

    #[test]
    fn block_names_map_to_their_hours() {
        assert_eq!(block_hours(&serde_json::json!(["americas", "asia"])), vec![(0, 8), (16, 24)]);
        assert_eq!(block_hours(&serde_json::json!("garbage")), Vec::<(u32, u32)>::new());
    }
}
