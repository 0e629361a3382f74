//! Management keys (`mk_…`): long-lived credentials an account owner creates for scripts and
//! servers that call the billing API on the account's behalf. A key is shown once, stored as
//! its SHA-256 hash, carries scopes no wider than its creator's, and stops working the moment
//! it is revoked (every request reads it from the database: no cache to wait out).

use crate::AccountId;
use crate::accounts::{generate_key, hash_key};
use crate::error::DomainError;
use chrono::{DateTime, Utc};
use entities::management_keys::{self, Column, Entity as ManagementKeys};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// Most live management keys one account may hold.
pub const MAX_PER_ACCOUNT: u64 = 25;
/// How stale `last_used_at` may get: a key used constantly is written once a minute, not
/// on every request.
const LAST_USED_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

/// A new management key for an account. The key is returned once; only its hash is kept.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    name: &str,
    scopes: &str,
) -> Result<(management_keys::Model, String), DbErr> {
    let key = generate_key("mk_");
    let row = management_keys::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(account_id),
        name: Set(name.to_owned()),
        prefix: Set(key.chars().take(11).collect()),
        key_hash: Set(hash_key(&key)),
        scopes: Set(scopes.to_owned()),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    let model = ManagementKeys::insert(row).exec_with_returning(db).await?;
    Ok((model, key))
}

/// Creates a key unless the account already holds [`MAX_PER_ACCOUNT`] live ones; the
/// account is locked for the count, so parallel requests cannot pass it together.
pub async fn create_within_limit(
    db: &DatabaseConnection,
    account_id: AccountId,
    name: &str,
    scopes: &str,
) -> Result<(management_keys::Model, String), DomainError> {
    let txn = crate::db::begin_write(db).await?;
    crate::accounts::lock(&txn, account_id).await?;
    let live = ManagementKeys::find()
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::RevokedAt.is_null())
        .count(&txn)
        .await?;
    if live >= MAX_PER_ACCOUNT {
        return Err(DomainError::LimitReached {
            code: "key_limit_reached",
            message: format!("an account holds at most {MAX_PER_ACCOUNT} management keys; revoke one first"),
        });
    }
    let made = create(&txn, account_id, name, scopes).await?;
    txn.commit().await?;
    Ok(made)
}

/// The live management key with this value, if any.
pub async fn find_live<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<management_keys::Model>, DbErr> {
    ManagementKeys::find().filter(Column::KeyHash.eq(hash_key(key))).filter(Column::RevokedAt.is_null()).one(db).await
}

/// Records a use, at most once per [`LAST_USED_GRANULARITY`] (the filter makes the write a
/// no-op otherwise, and two api processes racing write once).
pub async fn touch<C: ConnectionTrait>(db: &C, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    ManagementKeys::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::LastUsedAt.is_null().or(Column::LastUsedAt.lt(now - LAST_USED_GRANULARITY)))
        .exec(db)
        .await?;
    Ok(())
}

/// The account's keys, newest first, revoked ones included (with their revocation time).
pub async fn list<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<Vec<management_keys::Model>, DbErr> {
    ManagementKeys::find().filter(Column::AccountId.eq(account_id)).order_by_desc(Column::Id).all(db).await
}

/// Revokes one of the account's keys; another account's id is not found. Revoking twice
/// keeps the first time.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<management_keys::Model, DomainError> {
    let found = ManagementKeys::find_by_id(id)
        .filter(Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("management key"))?;
    if found.revoked_at.is_some() {
        return Ok(found);
    }
    ManagementKeys::update_many()
        .col_expr(Column::RevokedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .filter(Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(management_keys::Model { revoked_at: Some(now), ..found })
}
