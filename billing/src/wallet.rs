//! Binding a wallet to an account, proven by the wallet's signature ("Sign-In with
//! Ethereum", EIP-4361).
//!
//! A bound wallet decides whose USDC is whose: the chain scan credits a transfer from it to
//! its account, and a verification from a bound account must come from it. A binding
//! anyone could type would let an attacker bind a victim's address and collect the victim's
//! next payment, so:
//!
//! 1. the account asks for a challenge for an address: the server issues a random nonce and
//!    the exact EIP-4361 message (our domain, the address, `CHAIN_ID`, the nonce, issued-at
//!    and expiry), stored with the account;
//! 2. the wallet signs that message (EIP-191 `personal_sign`); the server recovers the
//!    signer from the stored message and binds only if it is the challenged address, the
//!    challenge belongs to the caller, is unused and unexpired — and it is used up at once;
//! 3. an address is bound to at most one account (a unique index): binding one bound
//!    elsewhere is refused.
//!
//! Contract wallets (ERC-1271) cannot sign this way; they pay without a binding, matched by
//! a unique amount or verified by hash.

use crate::AccountId;
use crate::chain::Address;
use crate::error::DomainError;
use chrono::{DateTime, Duration, Utc};
use entities::wallet_challenges::{self, Column, Entity as Challenges};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::str::FromStr;

/// How long a challenge may be signed for.
pub const CHALLENGE_TTL_MINUTES: i64 = 10;

/// What the wallet must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub nonce: String,
    pub message: String,
    pub expires_at: DateTime<Utc>,
}

/// Where the message says it comes from: `PUBLIC_URL`'s host (and port), and the URL.
pub struct Origin<'a> {
    pub public_url: &'a str,
    pub chain_id: u64,
}

impl Origin<'_> {
    fn domain(&self) -> &str {
        let rest = self.public_url.split_once("://").map_or(self.public_url, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

/// The EIP-4361 message, field for field.
fn message(origin: &Origin<'_>, address: &str, nonce: &str, issued: DateTime<Utc>, expires: DateTime<Utc>) -> String {
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n\
         Bind this wallet to your billing account: USDC it sends will be credited to this account.\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {expires}",
        domain = origin.domain(),
        uri = origin.public_url,
        chain = origin.chain_id,
        issued = ts(issued),
        expires = ts(expires),
    )
}

/// Issues a challenge for `address` to `account_id`.
pub async fn challenge<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    address: &Address,
    origin: &Origin<'_>,
    now: DateTime<Utc>,
) -> Result<Challenge, DomainError> {
    let checksummed = alloy::primitives::Address::from_str(address.as_str())
        .map_err(|_| DomainError::Invalid("walletAddress must be 0x followed by 40 hex digits".into()))?
        .to_checksum(None);
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let expires_at = now + Duration::minutes(CHALLENGE_TTL_MINUTES);
    let message = message(origin, &checksummed, &nonce, now, expires_at);
    // Old challenges are of no use to anyone: keep the table small.
    Challenges::delete_many().filter(Column::ExpiresAt.lt(now - Duration::days(1))).exec(db).await?;
    Challenges::insert(wallet_challenges::ActiveModel {
        nonce: Set(nonce.clone()),
        account_id: Set(account_id),
        address: Set(address.to_string()),
        message: Set(message.clone()),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(Challenge { nonce, message, expires_at })
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such challenge for this account, or used, or expired.
    UnknownChallenge,
    /// `message` was given and is not the one issued.
    MessageMismatch,
    BadSignature,
    /// The signature is valid but not by the challenged address.
    WrongSigner,
    /// The address is bound to another account.
    BoundElsewhere,
}

/// Checks the wallet's signature over the challenge `nonce` and binds its address to the
/// account; the challenge is used up whether or not the signature was right.
pub async fn prove(
    db: &sea_orm::DatabaseConnection,
    account_id: AccountId,
    nonce: &str,
    message: Option<&str>,
    signature: &str,
    now: DateTime<Utc>,
) -> Result<Result<Address, Refusal>, DomainError> {
    let txn = crate::db::begin_write(db).await?;
    let used = Challenges::update_many()
        .col_expr(Column::UsedAt, Expr::value(Some(now)))
        .filter(Column::Nonce.eq(nonce))
        .filter(Column::AccountId.eq(account_id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    let Some(ch) = Challenges::find_by_id(nonce.to_owned()).one(&txn).await?.filter(|_| used == 1) else {
        return Ok(Err(Refusal::UnknownChallenge));
    };
    // From here the challenge is spent, refused or not: a wrong guess costs a new challenge.
    let refusal = if message.is_some_and(|m| m != ch.message) {
        Some(Refusal::MessageMismatch)
    } else {
        match recover(&ch.message, signature) {
            None => Some(Refusal::BadSignature),
            Some(signer) if signer != ch.address => Some(Refusal::WrongSigner),
            Some(_) => None,
        }
    };
    if let Some(r) = refusal {
        txn.commit().await?;
        return Ok(Err(r));
    }
    let address = Address::parse(&ch.address).ok_or_else(|| DomainError::Internal("stored address".into()))?;
    let taken = entities::accounts::Entity::find()
        .filter(entities::accounts::Column::WalletAddress.eq(address.as_str()))
        .filter(entities::accounts::Column::Id.ne(account_id))
        .one(&txn)
        .await?;
    if taken.is_some() {
        txn.commit().await?;
        return Ok(Err(Refusal::BoundElsewhere));
    }
    let bound = entities::accounts::Entity::update_many()
        .col_expr(entities::accounts::Column::WalletAddress, Expr::value(Some(address.to_string())))
        .col_expr(entities::accounts::Column::UpdatedAt, Expr::value(now))
        .filter(entities::accounts::Column::Id.eq(account_id))
        .exec(&txn)
        .await;
    match bound {
        Ok(_) => {
            txn.commit().await?;
            Ok(Ok(address))
        }
        // Two accounts proving the same wallet at once: the unique index lets one win.
        Err(e) if is_unique_violation(&e) => Ok(Err(Refusal::BoundElsewhere)),
        Err(e) => Err(e.into()),
    }
}

/// Forgets the account's wallet.
pub async fn unbind<C: ConnectionTrait>(db: &C, account_id: AccountId) -> Result<(), DomainError> {
    entities::accounts::Entity::update_many()
        .col_expr(entities::accounts::Column::WalletAddress, Expr::value(Option::<String>::None))
        .col_expr(entities::accounts::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(entities::accounts::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// The lowercase address that signed `message` (EIP-191), if the signature is well formed.
fn recover(message: &str, signature: &str) -> Option<String> {
    let sig = alloy::primitives::Signature::from_str(signature.trim()).ok()?;
    let signer = sig.recover_address_from_msg(message.as_bytes()).ok()?;
    Some(format!("{signer:#x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    #[test]
    fn the_message_is_eip_4361() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").expect("ts").with_timezone(&Utc);
        let origin = Origin { public_url: "https://billing.example.com/x", chain_id: 8453 };
        let m = message(&origin, "0xAbC", "n0nce123", t, t + Duration::minutes(10));
        assert!(
            m.starts_with("billing.example.com wants you to sign in with your Ethereum account:\n0xAbC\n\n"),
            "{m}"
        );
        for line in [
            "URI: https://billing.example.com/x",
            "Version: 1",
            "Chain ID: 8453",
            "Nonce: n0nce123",
            "Issued At: 2026-11-27T10:00:00Z",
            "Expiration Time: 2026-11-27T10:10:00Z",
        ] {
            assert!(m.lines().any(|l| l == line), "{line} missing from {m}");
        }
    }

    #[test]
    fn only_the_wallets_own_signature_recovers_to_it() {
        let wallet = PrivateKeySigner::random();
        let other = PrivateKeySigner::random();
        let msg = "sign me";
        let sig = wallet.sign_message_sync(msg.as_bytes()).expect("sign");
        let hex_sig = format!("0x{}", hex::encode(sig.as_bytes()));
        assert_eq!(recover(msg, &hex_sig), Some(format!("{:#x}", wallet.address())));
        assert_ne!(recover("another message", &hex_sig), Some(format!("{:#x}", wallet.address())));
        let forged = other.sign_message_sync(msg.as_bytes()).expect("sign");
        assert_ne!(
            recover(msg, &format!("0x{}", hex::encode(forged.as_bytes()))),
            Some(format!("{:#x}", wallet.address()))
        );
        assert_eq!(recover(msg, "0x1234"), None);
    }
}
