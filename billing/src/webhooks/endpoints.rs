//! An account's webhook endpoints: created within its tier's allowance (Free none, Starter 3,
//! Growth 10, Enterprise 50), the signing secret shown once and stored sealed; listed,
//! deleted, the secret rotated; delivery attempts listed; any event redelivered by hand.
//! Every read and write is scoped to the account: another account's ids are not found.

use super::{EventType, signing};
use crate::AccountId;
use crate::error::DomainError;
use crate::jobs::contracts::WebhookDelivery;
use crate::jobs::{Job, QueuePolicy, outbox};
use chrono::Utc;
use entities::webhook_attempts::{self, Column as AtCol, Entity as Attempts};
use entities::webhook_endpoints::{self, Column, Entity as Endpoints};
use entities::webhook_events::{Column as EvCol, Entity as Events};
use entities::{KeyTier, WebhookEndpointStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// How many endpoints a key tier allows (the key-tier API's pricing table).
pub fn allowance(tier: KeyTier) -> u64 {
    match tier {
        KeyTier::Free => 0,
        KeyTier::Starter => 3,
        KeyTier::Growth => 10,
        KeyTier::Enterprise => 50,
    }
}

/// The next tier up, which allows more endpoints.
pub fn next_tier(tier: KeyTier) -> KeyTier {
    match tier {
        KeyTier::Free => KeyTier::Starter,
        KeyTier::Starter => KeyTier::Growth,
        KeyTier::Growth | KeyTier::Enterprise => KeyTier::Enterprise,
    }
}

pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
}

#[derive(Debug)]
pub enum CreateError {
    /// The tier allows `allowed` endpoints and the account has them.
    Limit {
        tier: KeyTier,
        allowed: u64,
        used: u64,
    },
    Domain(DomainError),
}

impl<E: Into<DomainError>> From<E> for CreateError {
    fn from(e: E) -> Self {
        CreateError::Domain(e.into())
    }
}

/// The types an endpoint listens to (empty: all).
pub fn event_types(e: &webhook_endpoints::Model) -> Vec<EventType> {
    serde_json::from_str::<Vec<EventType>>(&e.event_types).unwrap_or_default()
}

/// Whether `e` is told of `kind`.
pub fn wants(e: &webhook_endpoints::Model, kind: EventType) -> bool {
    let types = event_types(e);
    types.is_empty() || types.contains(&kind)
}

/// Creates an endpoint; its secret (shown once) beside it. The count is taken under the
/// account's lock, so two requests at once cannot both take the last place.
pub async fn create(
    db: &DatabaseConnection,
    server_secret: &[u8],
    account_id: AccountId,
    new: NewEndpoint,
) -> Result<(webhook_endpoints::Model, String), CreateError> {
    let txn = crate::db::begin_write(db).await?;
    crate::accounts::lock(&txn, account_id).await?;
    let tier = crate::api_keys::entitled_tier(&txn, account_id).await?;
    let allowed = allowance(tier);
    let used = Endpoints::find().filter(Column::AccountId.eq(account_id)).count(&txn).await?;
    if used >= allowed {
        return Err(CreateError::Limit { tier, allowed, used });
    }
    let id = Uuid::now_v7();
    let secret = signing::new_secret();
    let now = Utc::now();
    let types = serde_json::to_string(&new.event_types).unwrap_or_else(|_| "[]".into());
    Endpoints::insert(webhook_endpoints::ActiveModel {
        id: Set(id),
        account_id: Set(account_id),
        url: Set(new.url),
        description: Set(new.description),
        event_types: Set(types),
        secret_sealed: Set(signing::seal(server_secret, id, &secret)),
        status: Set(WebhookEndpointStatus::Enabled),
        disabled_reason: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    let row = Endpoints::find_by_id(id).one(&txn).await?.ok_or(DomainError::NotFound("webhook endpoint"))?;
    txn.commit().await?;
    Ok((row, secret))
}

pub async fn list<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
) -> Result<Vec<webhook_endpoints::Model>, DomainError> {
    Ok(Endpoints::find().filter(Column::AccountId.eq(account_id)).order_by_asc(Column::CreatedAt).all(db).await?)
}

/// The account's endpoint `id` (another account's is not found).
pub async fn find<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    id: Uuid,
) -> Result<Option<webhook_endpoints::Model>, DomainError> {
    Ok(Endpoints::find_by_id(id).filter(Column::AccountId.eq(account_id)).one(db).await?)
}

/// Deletes the account's endpoint; false when it has none of that id. Deliveries already
/// queued for it find it gone and end.
pub async fn delete(db: &DatabaseConnection, account_id: AccountId, id: Uuid) -> Result<bool, DomainError> {
    let res =
        Endpoints::delete_many().filter(Column::Id.eq(id)).filter(Column::AccountId.eq(account_id)).exec(db).await?;
    Ok(res.rows_affected > 0)
}

/// A new secret for the account's endpoint, shown once; the old one stops signing at once.
pub async fn rotate(
    db: &DatabaseConnection,
    server_secret: &[u8],
    account_id: AccountId,
    id: Uuid,
) -> Result<Option<(webhook_endpoints::Model, String)>, DomainError> {
    let secret = signing::new_secret();
    let res = Endpoints::update_many()
        .col_expr(Column::SecretSealed, Expr::value(signing::seal(server_secret, id, &secret)))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        return Ok(None);
    }
    Ok(find(db, account_id, id).await?.map(|e| (e, secret)))
}

/// Turns a disabled endpoint back on (its failure window starts afresh).
pub async fn enable(
    db: &DatabaseConnection,
    account_id: AccountId,
    id: Uuid,
) -> Result<Option<webhook_endpoints::Model>, DomainError> {
    Endpoints::update_many()
        .col_expr(Column::Status, Expr::value(WebhookEndpointStatus::Enabled.as_str()))
        .col_expr(Column::DisabledReason, Expr::value(Option::<String>::None))
        .col_expr(Column::FailingSince, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    find(db, account_id, id).await
}

/// The endpoint's latest delivery attempts, newest first.
pub async fn attempts<C: ConnectionTrait>(
    db: &C,
    endpoint_id: Uuid,
    limit: u64,
) -> Result<Vec<webhook_attempts::Model>, DomainError> {
    Ok(Attempts::find()
        .filter(AtCol::EndpointId.eq(endpoint_id))
        .order_by_desc(AtCol::CreatedAt)
        .order_by_desc(AtCol::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The account's latest events, newest first.
pub async fn events<C: ConnectionTrait>(
    db: &C,
    account_id: AccountId,
    limit: u64,
) -> Result<Vec<entities::webhook_events::Model>, DomainError> {
    Ok(Events::find()
        .filter(EvCol::AccountId.eq(account_id))
        .order_by_desc(EvCol::CreatedAt)
        .order_by_desc(EvCol::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// Queues the account's event again for its endpoint (a job of its own, whatever became of
/// the first deliveries); `None` when either is not the account's.
pub async fn redeliver(
    db: &DatabaseConnection,
    account_id: AccountId,
    endpoint_id: Uuid,
    event_id: &str,
) -> Result<Option<Uuid>, DomainError> {
    let Some(endpoint) = find(db, account_id, endpoint_id).await? else { return Ok(None) };
    let event = Events::find_by_id(event_id.to_owned()).filter(EvCol::AccountId.eq(account_id)).one(db).await?;
    if event.is_none() {
        return Ok(None);
    }
    let job = WebhookDelivery { event_id: event_id.to_owned(), endpoint_id: endpoint.id, manual: Some(Uuid::now_v7()) };
    let enqueued = outbox::enqueue(db, &job, &QueuePolicy::default_for(WebhookDelivery::QUEUE)).await?;
    Ok(Some(enqueued.job_id))
}

/// Records one attempt: its answer (status, latency, the body's start) or why none came.
pub async fn record_attempt<C: ConnectionTrait>(
    db: &C,
    endpoint_id: Uuid,
    event_id: &str,
    status: Option<u16>,
    latency_ms: i64,
    response: Option<String>,
    error: Option<String>,
) -> Result<(), DomainError> {
    Attempts::insert(webhook_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        endpoint_id: Set(endpoint_id),
        event_id: Set(event_id.to_owned()),
        status_code: Set(status.map(i32::from)),
        latency_ms: Set(latency_ms),
        response: Set(response),
        error: Set(error),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// After a delivery: a success clears the endpoint's failure window; a failure opens it (if
/// not open) and, once it has lasted `disable_after`, disables the endpoint and tells the
/// account's other endpoints. Whether the endpoint is now disabled.
pub async fn after_delivery(
    db: &DatabaseConnection,
    endpoint: &webhook_endpoints::Model,
    delivered: bool,
    disable_after: std::time::Duration,
) -> Result<bool, DomainError> {
    let now = Utc::now();
    if delivered {
        if endpoint.failing_since.is_some() {
            Endpoints::update_many()
                .col_expr(Column::FailingSince, Expr::value(Option::<chrono::DateTime<Utc>>::None))
                .filter(Column::Id.eq(endpoint.id))
                .exec(db)
                .await?;
        }
        return Ok(false);
    }
    let Some(since) = endpoint.failing_since else {
        Endpoints::update_many()
            .col_expr(Column::FailingSince, Expr::value(Some(now)))
            .filter(Column::Id.eq(endpoint.id))
            .filter(Column::FailingSince.is_null())
            .exec(db)
            .await?;
        return Ok(false);
    };
    let window = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
    if now - since < window {
        return Ok(false);
    }
    let txn = crate::db::begin_write(db).await?;
    let reason = format!("every delivery failed since {}", since.to_rfc3339());
    let res = Endpoints::update_many()
        .col_expr(Column::Status, Expr::value(WebhookEndpointStatus::Disabled.as_str()))
        .col_expr(Column::DisabledReason, Expr::value(Some(reason.clone())))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(endpoint.id))
        .filter(Column::Status.eq(WebhookEndpointStatus::Enabled))
        .exec(&txn)
        .await?;
    if res.rows_affected > 0 {
        let fact = super::Fact {
            account_id: endpoint.account_id,
            kind: EventType::EndpointDisabled,
            key: format!("endpoint-disabled:{}:{}", endpoint.id, since.timestamp_micros()),
            data: serde_json::json!({"endpointId": endpoint.id, "url": endpoint.url, "reason": reason}),
        };
        super::emit(&txn, fact).await?;
        tracing::warn!(endpoint = %endpoint.id, "webhook endpoint disabled after failing throughout its window");
    }
    txn.commit().await?;
    Ok(true)
}

/// The balance, in credits, below which the account hears `credits.low` (`None`: never).
pub async fn set_credits_low_threshold(
    db: &DatabaseConnection,
    account_id: AccountId,
    threshold: Option<i64>,
) -> Result<(), DomainError> {
    use entities::accounts::{Column as AccCol, Entity as Accounts};
    Accounts::update_many()
        .col_expr(AccCol::CreditsLowThreshold, Expr::value(threshold))
        .col_expr(AccCol::UpdatedAt, Expr::value(Utc::now()))
        .filter(AccCol::Id.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}
