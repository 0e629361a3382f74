//! API keys for the gateway: credit keys (billing API, drawing on credits), subscription and pool
//! keys (billing API, one pool per subscription or pledge) and tier keys (key-tier API).
//!
//! A key is `tg_<kind>_` and 64 hex digits (256 random bits): the prefix lets a leaked key be
//! found by secret scanning. It is shown once, at creation or rotation; only its SHA-256
//! hash is stored, with the first characters for display.

use crate::AccountId;
use crate::accounts::{generate_key, hash_key};
use crate::error::DomainError;
use chrono::Utc;
use entities::api_keys::{self, Column, Entity as Keys};
use entities::{ApiKeyKind, KeyStatus, KeyTier};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

/// How many characters of a key are kept for display.
const SHOWN: usize = 14;

fn prefix(kind: ApiKeyKind) -> &'static str {
    match kind {
        ApiKeyKind::Credit => "tg_cr_",
        ApiKeyKind::Subscription => "tg_sub_",
        ApiKeyKind::Pool => "tg_pool_",
        ApiKeyKind::Tier => "tg_tier_",
    }
}

/// A kind's prefix under a brand: `tg_cr_` becomes `inf_cr_` with the brand `inf_`.
fn branded(kind: ApiKeyKind, brand: Option<&str>) -> String {
    let plain = prefix(kind);
    match brand {
        Some(b) => format!("{b}{}", plain.trim_start_matches("tg_")),
        None => plain.to_owned(),
    }
}

/// The key-tier API's tier table: requests per second, and queries per month (None: unlimited).
pub fn tier_limits(tier: KeyTier) -> (u32, Option<u64>) {
    match tier {
        KeyTier::Free => (10, Some(100)),
        KeyTier::Starter => (100, Some(10_000)),
        KeyTier::Growth => (500, Some(100_000)),
        KeyTier::Enterprise => (2_000, None),
    }
}

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub account_id: AccountId,
    pub kind: ApiKeyKind,
    pub name: String,
    pub tier: Option<KeyTier>,
    pub subscription_id: Option<Uuid>,
    pub pledge_id: Option<Uuid>,
    pub organization_name: Option<String>,
    pub contact_email: Option<String>,
    /// Space-separated scopes the key has as a bearer ([`DEFAULT_SCOPES`] unless asked).
    pub scopes: String,
    /// What the key's value starts with in place of `tg_` (`API_KEY_BEARER_PREFIX`).
    pub brand: Option<String>,
}

/// A key's bearer scopes unless its creator asks for more: reading the account's billing.
pub const DEFAULT_SCOPES: &str = "billing:read";

/// Creates a key; returns its row and the key itself, which is never available again.
pub async fn create<C: ConnectionTrait>(db: &C, new: NewKey) -> Result<(api_keys::Model, String), DomainError> {
    let key = generate_key(&branded(new.kind, new.brand.as_deref()));
    let row = Keys::insert(api_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(new.account_id),
        kind: Set(new.kind),
        tier: Set(new.tier),
        subscription_id: Set(new.subscription_id),
        pledge_id: Set(new.pledge_id),
        name: Set(new.name),
        prefix: Set(key.chars().take(SHOWN).collect()),
        key_hash: Set(hash_key(&key)),
        status: Set(KeyStatus::Active),
        organization_name: Set(new.organization_name),
        contact_email: Set(new.contact_email),
        expires_at: Set(None),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        scopes: Set(new.scopes),
    })
    .exec_with_returning(db)
    .await?;
    if let Some(pledge) = row.pledge_id {
        // A paid pledge waiting for its key is active once it has one.
        use entities::pool_pledges::{Column as P, Entity as Pledges};
        Pledges::update_many()
            .col_expr(P::Status, Expr::value(entities::PledgeStatus::Active.as_str()))
            .col_expr(P::UpdatedAt, Expr::value(Utc::now()))
            .filter(P::Id.eq(pledge))
            .filter(P::Status.eq(entities::PledgeStatus::PendingKey))
            .exec(db)
            .await?;
    }
    Ok((row, key))
}

/// Creates a key within the account's limits: at most `max_active` keys that are not
/// revoked, and for a pool pledge at most its `quantity` (a seat per key). The account's
/// row is locked for the count (Postgres), so parallel requests cannot pass it together.
/// Quotas and rates never grow with the keys (they are counted per account, subscription
/// or pledge), so the cap only bounds what one account can make the system store.
pub async fn create_limited(
    db: &sea_orm::DatabaseConnection,
    new: NewKey,
    max_active: u64,
) -> Result<(api_keys::Model, String), DomainError> {
    use sea_orm::PaginatorTrait;
    let txn = crate::db::begin_write(db).await?;
    crate::accounts::lock(&txn, new.account_id).await?;
    let live = |q: sea_orm::Select<Keys>| q.filter(Column::Status.ne(KeyStatus::Revoked));
    let active = live(Keys::find().filter(Column::AccountId.eq(new.account_id))).count(&txn).await?;
    if active >= max_active {
        return Err(DomainError::LimitReached {
            code: "key_limit_reached",
            message: format!("an account holds at most {max_active} active keys; revoke one first"),
        });
    }
    if let Some(pledge_id) = new.pledge_id {
        let seats = entities::pool_pledges::Entity::find_by_id(pledge_id)
            .one(&txn)
            .await?
            .map_or(0, |p| u64::try_from(p.quantity).unwrap_or(0));
        let keys = live(Keys::find().filter(Column::PledgeId.eq(pledge_id))).count(&txn).await?;
        if keys >= seats {
            return Err(DomainError::LimitReached {
                code: "pledge_keys_exhausted",
                message: format!(
                    "this pledge has {seats} seat(s), each with its key; revoke one or raise the quantity"
                ),
            });
        }
    }
    let created = create(&txn, new).await?;
    txn.commit().await?;
    Ok(created)
}

/// The account's keys, newest first.
pub async fn list<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<Vec<api_keys::Model>, DomainError> {
    Ok(Keys::find().filter(Column::AccountId.eq(account_id)).order_by_desc(Column::CreatedAt).all(db).await?)
}

/// One of the account's keys; `None` for another account's.
pub async fn find_for<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
) -> Result<Option<api_keys::Model>, DomainError> {
    Ok(Keys::find_by_id(id).filter(Column::AccountId.eq(account_id)).one(db).await?)
}

/// Revokes one of the account's keys; false when there is no such live key.
pub async fn revoke<C: ConnectionTrait>(db: &C, account_id: AccountId, id: Uuid) -> Result<bool, DomainError> {
    let now = Utc::now();
    let res = Keys::update_many()
        .col_expr(Column::Status, Expr::value(KeyStatus::Revoked.as_str()))
        .col_expr(Column::RevokedAt, Expr::value(Some(now)))
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Status.ne(KeyStatus::Revoked))
        .exec(db)
        .await?;
    let revoked = res.rows_affected == 1;
    if revoked {
        let fact = crate::webhooks::Fact {
            account_id,
            kind: crate::webhooks::EventType::KeyRevoked,
            key: format!("key-revoked:{id}"),
            data: serde_json::json!({"keyId": id, "revokedAt": now}),
        };
        crate::webhooks::emit(db, fact).await?;
    }
    Ok(revoked)
}

/// Replaces a key's secret: the old value stops working at once, the new one is returned
/// (once). Everything else about the key — its id, kind, tier, pool — stays.
pub async fn rotate<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
    brand: Option<&str>,
) -> Result<Option<(api_keys::Model, String)>, DomainError> {
    let Some(old) = find_for(db, account_id, id).await?.filter(|k| k.status != KeyStatus::Revoked) else {
        return Ok(None);
    };
    let key = generate_key(&branded(old.kind, brand));
    Keys::update_many()
        .col_expr(Column::KeyHash, Expr::value(hash_key(&key)))
        .col_expr(Column::Prefix, Expr::value(key.chars().take(SHOWN).collect::<String>()))
        .filter(Column::Id.eq(id))
        .filter(Column::KeyHash.eq(&old.key_hash))
        .exec(db)
        .await?;
    Ok(find_for(db, account_id, id).await?.map(|k| (k, key)))
}

/// The key tier the account has paid for (a live key-tier subscription), else Free.
pub async fn entitled_tier<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<KeyTier, DomainError> {
    use entities::subscriptions::{Column as S, Entity as Subs};
    use entities::{PlanKind, SubscriptionStatus};
    let subs = Subs::find()
        .filter(S::AccountId.eq(account_id))
        .filter(S::Kind.eq(PlanKind::KeyTier))
        .filter(S::Status.is_in([
            SubscriptionStatus::Active,
            SubscriptionStatus::Trialing,
            SubscriptionStatus::PastDue,
        ]))
        .all(db)
        .await?;
    let mut best = KeyTier::Free;
    for s in subs {
        let plan = entities::plans::Entity::find_by_id(s.plan_id).one(db).await?;
        if let Some(t) = plan.and_then(|p| crate::stripe::subscription::tier_of_slug(&p.slug))
            && rank(t) > rank(best)
        {
            best = t;
        }
    }
    Ok(best)
}

pub fn rank(t: KeyTier) -> u8 {
    match t {
        KeyTier::Free => 0,
        KeyTier::Starter => 1,
        KeyTier::Growth => 2,
        KeyTier::Enterprise => 3,
    }
}

/// Credit keys follow the balance: disabled when it reaches zero, enabled again when it is
/// positive (a top-up, a grant, a check-in). Called in the transaction that moved it.
pub async fn sync_credit_keys<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<(), DomainError> {
    let balance = crate::ledger::customer_balance(db, account_id).await?;
    let (from, to) = if balance.is_positive() {
        (KeyStatus::Disabled, KeyStatus::Active)
    } else {
        (KeyStatus::Active, KeyStatus::Disabled)
    };
    Keys::update_many()
        .col_expr(Column::Status, Expr::value(to.as_str()))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(ApiKeyKind::Credit))
        .filter(Column::Status.eq(from))
        .exec(db)
        .await?;
    Ok(())
}

/// How many credit keys the account has that are not revoked.
pub async fn count_credit_keys<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<u64, DomainError> {
    use sea_orm::PaginatorTrait;
    Ok(Keys::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::Kind.eq(ApiKeyKind::Credit))
        .filter(Column::Status.ne(KeyStatus::Revoked))
        .count(db)
        .await?)
}
