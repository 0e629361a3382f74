//! HTTP `Idempotency-Key` records: the first response to a key is replayed for 24 hours;
//! the same key with another request is refused; a key whose request is still running is
//! refused until it finishes.

use chrono::{Duration, Utc};
use entities::IdempotencyStatus;
use entities::idempotency_keys::{self, Column, Entity as Keys};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

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
