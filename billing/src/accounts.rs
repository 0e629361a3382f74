//! Accounts and management keys.

use crate::AccountId;
use chrono::Utc;
use entities::accounts::{self, Column, Entity as Accounts};
use entities::management_keys::{self, Column as MkCol, Entity as ManagementKeys};
use rand::RngCore;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The account of an authenticated subject, created on first sight.
pub async fn ensure<C: ConnectionTrait>(db: &C, subject: &str) -> Result<accounts::Model, DbErr> {
    if let Some(found) = Accounts::find().filter(Column::Subject.eq(subject)).one(db).await? {
        return Ok(found);
    }
    let now = Utc::now();
    Accounts::insert(accounts::ActiveModel {
        id: Set(AccountId::generate()),
        subject: Set(subject.to_owned()),
        email: Set(None),
        stripe_customer_id: Set(None),
        wallet_address: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict_do_nothing_on([Column::Subject])
    .exec_without_returning(db)
    .await?;
    Accounts::find()
        .filter(Column::Subject.eq(subject))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("account {subject}")))
}

/// SHA-256 of a key, hex: what is stored in place of the key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key with a recognisable prefix (`mk_`, `tg_`): 32 random bytes, hex.
pub fn generate_key(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A new management key for an account. The key is returned once; only its hash is kept.
pub async fn create_management_key<C: ConnectionTrait>(
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

/// The live management key with this value, if any.
pub async fn find_management_key<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> Result<Option<management_keys::Model>, DbErr> {
    ManagementKeys::find().filter(MkCol::KeyHash.eq(hash_key(key))).filter(MkCol::RevokedAt.is_null()).one(db).await
}

/// An account by id.
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<accounts::Model>, DbErr> {
    Accounts::find_by_id(id).one(db).await
}
