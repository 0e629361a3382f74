//! Accounts, and the keys whose hash is all that is stored of them.

use crate::AccountId;
use chrono::Utc;
use entities::accounts::{self, Column, Entity as Accounts};
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
        creem_customer_id: Set(None),
        credits_low_threshold: Set(None),
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

/// Locks the account's row until `txn` ends (Postgres; SQLite writes one at a time anyway),
/// so that counting what the account holds and adding to it cannot interleave.
pub async fn lock<C: ConnectionTrait>(txn: &C, account_id: AccountId) -> Result<(), DbErr> {
    use sea_orm::QuerySelect;
    let row = Accounts::find_by_id(account_id).select_only().column(Column::Id);
    crate::db::for_update(txn, row).into_tuple::<Uuid>().one(txn).await?;
    Ok(())
}

/// An account by id.
pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<accounts::Model>, DbErr> {
    Accounts::find_by_id(id).one(db).await
}
