//! HTTP `Idempotency-Key` records: the first response to a key is replayed for 24 hours;
//! the same key with another request is refused; a key whose request is still running is
//! refused until it finishes.
//!
//! A response may carry a secret shown once (a new API key, a management key), so a record
//! never holds a response in clear: the body is sealed (ChaCha20-Poly1305) under a key
//! derived from the server secret and the client's `Idempotency-Key`, and the record stores
//! only the SHA-256 of that `Idempotency-Key`. Whoever reads the database learns nothing from
//! it; the server can open a record only when the client presents the key again, which is
//! exactly a replay. Expired records are swept by the hourly expiry job.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{Duration, Utc};
use entities::IdempotencyStatus;
use entities::idempotency_keys::{self, Column, Entity as Keys};
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of a sealed body, naming the scheme so it can change later.
const SEALED_V1: &str = "sealed-v1:";

/// Seals and opens the responses of one `Idempotency-Key` of one caller.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// What the record stores instead of the key: its SHA-256.
    pub key_hash: String,
}

impl Sealer {
    /// `server_secret` never leaves the process; `scope` is the caller (an account id).
    pub fn new(server_secret: &[u8], scope: &str, idempotency_key: &str) -> Sealer {
        Sealer::derive(server_secret, "tollgate idempotency record v1", scope, idempotency_key)
    }

    /// A sealer for `item` of `scope`, under a key of its own derived from the server secret
    /// for one `purpose` (so a key of one use never opens another's records).
    pub fn derive(server_secret: &[u8], purpose: &str, scope: &str, item: &str) -> Sealer {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(scope.as_bytes());
        mac.update(b"\0");
        mac.update(item.as_bytes());
        let key = mac.finalize().into_bytes();
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            key_hash: hex::encode(Sha256::digest(item.as_bytes())),
        }
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce: [u8; 12] = rand::random();
        // Encryption fails only for inputs beyond 256 GiB.
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_V1}{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, out))
    }

    /// `None` when the record was sealed under another secret (rotated) or altered.
    pub fn open(&self, stored: &str) -> Option<String> {
        let b64 = stored.strip_prefix(SEALED_V1)?;
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (nonce, sealed) = raw.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), sealed).ok()?;
        String::from_utf8(plain).ok()
    }
}

pub const TTL_HOURS: i64 = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: run the request, then [`finish`] or [`release`].
    Fresh(Uuid),
    Replay {
        status: u16,
        body: String,
    },
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key has not finished.
    InFlight,
}

/// `key` is what the record is looked up by: the SHA-256 of the client's key ([`Sealer::key_hash`]).
pub async fn begin<C: ConnectionTrait>(db: &C, scope: &str, key: &str, request_hash: &str) -> Result<Begin, DbErr> {
    let now = Utc::now();
    // An expired record no longer binds its key.
    Keys::delete_many()
        .filter(Column::Scope.eq(scope))
        .filter(Column::Key.eq(key))
        .filter(Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    let id = Uuid::now_v7();
    let inserted = Keys::insert(idempotency_keys::ActiveModel {
        id: Set(id),
        scope: Set(scope.to_owned()),
        key: Set(key.to_owned()),
        request_hash: Set(request_hash.to_owned()),
        status: Set(IdempotencyStatus::InFlight),
        response_status: Set(None),
        response_body: Set(None),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(TTL_HOURS)),
    })
    .on_conflict_do_nothing_on([Column::Scope, Column::Key])
    .exec_without_returning(db)
    .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Begin::Fresh(id));
    }
    let Some(found) = Keys::find().filter(Column::Scope.eq(scope)).filter(Column::Key.eq(key)).one(db).await? else {
        // Expired and deleted between our two statements: treat as in flight; the client retries.
        return Ok(Begin::InFlight);
    };
    Ok(if found.status == IdempotencyStatus::InFlight {
        Begin::InFlight
    } else if found.request_hash != request_hash {
        Begin::Mismatch
    } else {
        Begin::Replay {
            status: found.response_status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
            body: found.response_body.unwrap_or_default(),
        }
    })
}

pub async fn finish<C: ConnectionTrait>(db: &C, id: Uuid, status: u16, body: String) -> Result<(), DbErr> {
    Keys::update_many()
        .col_expr(Column::Status, Expr::value(IdempotencyStatus::Completed.as_str()))
        .col_expr(Column::ResponseStatus, Expr::value(Some(i32::from(status))))
        .col_expr(Column::ResponseBody, Expr::value(Some(body)))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets a key whose request failed on our side (5xx), so the client can retry it.
pub async fn release<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<(), DbErr> {
    Keys::delete_by_id(id).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_opens_only_with_the_same_secret_scope_and_key() {
        let sealer = Sealer::new(b"server-secret", "acct-1", "idem-1");
        let sealed = sealer.seal(r#"{"key":"tg_credit_secret"}"#);
        assert!(!sealed.contains("tg_credit_secret"));
        assert_eq!(sealer.open(&sealed).as_deref(), Some(r#"{"key":"tg_credit_secret"}"#));
        assert!(Sealer::new(b"other-secret", "acct-1", "idem-1").open(&sealed).is_none());
        assert!(Sealer::new(b"server-secret", "acct-2", "idem-1").open(&sealed).is_none());
        assert!(Sealer::new(b"server-secret", "acct-1", "idem-2").open(&sealed).is_none());
        assert!(sealer.open("plain text").is_none());
        assert_ne!(sealer.key_hash, "idem-1");
    }
}
