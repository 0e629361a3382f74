//! Reconciliation, one per tick (and on demand): Stripe events the webhook never delivered
//! are fetched from `GET /v1/events` since a stored cursor and put through the inbox like
//! any delivery (so each is applied once); Stripe-backed subscriptions are re-fetched and
//! mirrored, and those whose local state differed are listed (Creem's too: Creem offers no
//! event list, so its subscriptions are what is re-read); then the report is made
//! (`billing::reconcile`), which logs any ledger invariant violation at error level.

use super::JobError;
use crate::runner::Ctx;
use billing::jobs::contracts::{CatchUp, Differing, ReconcileReport};
use billing::stripe::inbox::{self, EventHead, Incoming};
use chrono::Utc;
use entities::chain_cursors::{self, Entity as Cursors};
use entities::{JobQueue, PledgeStatus, SubscriptionStatus};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::json;
use stripe_client_core::{RequestBuilder, StripeMethod};

/// The cursor row (in the cursor table the chain scan also uses): the `created` time of
/// the newest Stripe event seen.
const CURSOR: &str = "stripe:events";
/// Events are listed again from a little before the cursor: events created in the same
/// second may be listed in any order.
const OVERLAP_SECS: i64 = 300;
/// Stripe keeps events for 30 days.
const RETENTION_SECS: i64 = 30 * 86_400;
/// The walk under way, if the last run's listing was cut short.
const WALK: &str = "stripe:events:walk";

#[derive(miniserde::Deserialize)]
struct Page {
    data: Vec<miniserde::json::Value>,
    has_more: bool,
}

pub async fn handle(ctx: &Ctx) -> Result<ReconcileReport, JobError> {
    let mut result = ReconcileReport::default();
    if let Some(client) = &ctx.stripe {
        result.stripe_events = Some(catch_up(ctx, client).await?);
        result.subscriptions_differing = Some(refresh_subscriptions(ctx, client).await?);
    }
    if ctx.creem.is_some() {
        result.creem_subscriptions_differing = Some(refresh_creem_subscriptions(ctx).await?);
    }
    let report = billing::reconcile::report(&ctx.db).await?;
    if report.total > 0 {
        tracing::warn!(discrepancies = report.total, "reconciliation found discrepancies");
    }
    result.discrepancies = report.total;
    result.ledger_violations = report.ledger_violations.len();
    Ok(result)
}

/// Where an unfinished walk through the event list resumes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Walk {
    /// The walk's lower bound (`created >= since`), fixed until it ends.
    since: i64,
    /// The last (oldest) event read: the next page starts after it.
    after: String,
    /// The newest `created` read so far: the cursor once the walk ends.
    newest: i64,
}

/// Lists Stripe's events since the cursor, newest first, and stores the ones the inbox has
/// not seen. A listing longer than one run's budget (`RECONCILE_MAX_EVENTS`) is a walk:
/// the next run resumes below the last event read, and the cursor moves only when the walk
/// has reached its lower bound, so no event is ever skipped.
async fn catch_up(ctx: &Ctx, client: &stripe::Client) -> Result<CatchUp, JobError> {
    let now = Utc::now().timestamp();
    let cursor = Cursors::find_by_id(CURSOR.to_owned()).one(&ctx.db).await?.map(|c| c.block_number);
    let walk: Option<Walk> = Cursors::find_by_id(WALK.to_owned())
        .one(&ctx.db)
        .await?
        .and_then(|w| w.position)
        .and_then(|p| serde_json::from_str(&p).ok());
    let since = match &walk {
        Some(w) => w.since,
        None => cursor.map_or(now - RETENTION_SECS, |c| c - OVERLAP_SECS).max(now - RETENTION_SECS),
    };
    let budget = ctx.settings.reconcile_max_events.max(1);
    let page_size = budget.min(100);
    let mut items = Vec::new();
    let mut after: Option<String> = walk.as_ref().map(|w| w.after.clone());
    let mut more = false;
    while items.len() < budget {
        let mut query = json!({"limit": page_size, "created": {"gte": since}});
        if let Some(a) = &after {
            query["starting_after"] = json!(a);
        }
        let page: Page = RequestBuilder::new(StripeMethod::Get, "/events")
            .query(&query)
            .customize()
            .send(client)
            .await
            .map_err(crate::stripe_api::classify)?;
        for raw in &page.data {
            let raw = miniserde::json::to_string(raw);
            let head = EventHead::parse(raw.as_bytes()).map_err(|e| JobError::Terminal(e.to_string()))?;
            after = Some(head.id.clone());
            items.push(Incoming { head, raw });
        }
        more = page.has_more && !page.data.is_empty();
        if !more {
            break;
        }
    }
    let newest = items.iter().map(|i| i.head.created).chain(walk.as_ref().map(|w| w.newest)).max();
    let policy = ctx.settings.queue(JobQueue::StripeEvent);
    let stored = inbox::store_many(&ctx.db, &items, &policy).await?;
    let missed: Vec<&str> =
        items.iter().zip(&stored).filter(|(_, s)| s.new_event).map(|(i, _)| i.head.id.as_str()).collect();
    if !missed.is_empty() {
        tracing::warn!(count = missed.len(), "Stripe events the webhook never delivered, now enqueued");
    }
    match (more, after, newest) {
        (true, Some(after), Some(newest)) => {
            let position =
                serde_json::to_string(&Walk { since, after, newest }).map_err(|e| JobError::Terminal(e.to_string()))?;
            save_cursor(ctx, WALK, since, Some(position)).await?;
        }
        _ => {
            if let Some(newest) = newest.filter(|n| cursor.is_none_or(|c| *n > c)) {
                save_cursor(ctx, CURSOR, newest, None).await?;
            }
            Cursors::delete_by_id(WALK.to_owned()).exec(&ctx.db).await?;
        }
    }
    let missed = missed.into_iter().map(str::to_owned).collect();
    Ok(CatchUp { listed: items.len(), missed, resumes_next_run: more })
}

async fn save_cursor(ctx: &Ctx, id: &str, value: i64, position: Option<String>) -> Result<(), JobError> {
    Cursors::insert(chain_cursors::ActiveModel {
        id: Set(id.to_owned()),
        block_number: Set(value),
        position: Set(position),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(chain_cursors::Column::Id)
            .update_columns([
                chain_cursors::Column::BlockNumber,
                chain_cursors::Column::Position,
                chain_cursors::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&ctx.db)
    .await?;
    Ok(())
}

/// Re-fetches every Stripe-backed subscription that is not over; lists those whose local
/// state was not Stripe's.
async fn refresh_subscriptions(ctx: &Ctx, client: &stripe::Client) -> Result<Vec<Differing>, JobError> {
    use entities::pool_pledges::{Column as P, Entity as Pledges};
    use entities::subscriptions::{Column as S, Entity as Subs};
    let subs: Vec<(String, SubscriptionStatus)> = Subs::find()
        .select_only()
        .columns([S::StripeSubscriptionId, S::Status])
        .filter(S::StripeSubscriptionId.is_not_null())
        .filter(S::Status.is_not_in([SubscriptionStatus::Canceled, SubscriptionStatus::Expired]))
        .into_tuple::<(Option<String>, SubscriptionStatus)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter_map(|(id, s)| id.map(|id| (id, s)))
        .collect();
    let pledges: Vec<(String, PledgeStatus)> = Pledges::find()
        .select_only()
        .columns([P::StripeSubscriptionId, P::Status])
        .filter(P::StripeSubscriptionId.is_not_null())
        .filter(P::Status.is_not_in([PledgeStatus::Canceled, PledgeStatus::Expired]))
        .into_tuple::<(Option<String>, PledgeStatus)>()
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter_map(|(id, s)| id.map(|id| (id, s)))
        .collect();
    let mut differing = Vec::new();
    for (id, before) in subs.iter().map(|(i, s)| (i, s.as_str())).chain(pledges.iter().map(|(i, s)| (i, s.as_str()))) {
        let after = match crate::stripe_sync::refresh(&ctx.db, client, id).await? {
            billing::stripe::subscription::Synced::Subscription { status, .. } => status.as_str(),
            billing::stripe::subscription::Synced::Pledge { status, .. } => status.as_str(),
            billing::stripe::subscription::Synced::NotOurs => continue,
        };
        if after != before {
            tracing::warn!(subscription = %id, before, after, "local subscription lagged behind Stripe");
            differing.push(Differing {
                stripe_subscription: id.clone(),
                before: before.to_owned(),
                after: after.to_owned(),
            });
        }
    }
    Ok(differing)
}

/// Re-fetches every Creem subscription that is not over; lists those whose local state was
/// not Creem's. A missed `subscription.paid` is not a payment recorded here: Creem resends
/// failed deliveries, and an operator can resend one from its dashboard.
async fn refresh_creem_subscriptions(ctx: &Ctx) -> Result<Vec<billing::jobs::contracts::CreemDiffering>, JobError> {
    use entities::subscriptions::{Column as S, Entity as Subs};
    let status_of = |id: String| {
        Subs::find()
            .select_only()
            .column(S::Status)
            .filter(S::CreemSubscriptionId.eq(id))
            .into_tuple::<SubscriptionStatus>()
    };
    let subs: Vec<(Option<String>, SubscriptionStatus)> = Subs::find()
        .select_only()
        .columns([S::CreemSubscriptionId, S::Status])
        .filter(S::CreemSubscriptionId.is_not_null())
        .filter(S::Status.is_not_in([SubscriptionStatus::Canceled, SubscriptionStatus::Expired]))
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut differing = Vec::new();
    for (id, before) in subs.into_iter().filter_map(|(id, s)| Some((id?, s))) {
        if !super::creem_event::refresh(ctx, &id, None, None).await? {
            continue;
        }
        let after = status_of(id.clone()).one(&ctx.db).await?.unwrap_or(before);
        if after != before {
            tracing::warn!(subscription = %id, before = before.as_str(), after = after.as_str(), "local subscription lagged behind Creem");
            differing.push(billing::jobs::contracts::CreemDiffering {
                creem_subscription: id,
                before: before.as_str().to_owned(),
                after: after.as_str().to_owned(),
            });
        }
    }
    Ok(differing)
}
