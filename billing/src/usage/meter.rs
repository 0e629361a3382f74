//! Metering: a batch of accepted usage events becomes, in one transaction, the events
//! not seen before (unique on account and event id), the per-key/metric/month counters,
//! and one ledger debit per batch and key; then the batch row is deleted. A retried job,
//! or a batch sent twice, counts nothing twice.
//!
//! A job meters its own batch together with up to [`MERGE`] − 1 other waiting batches
//! (Postgres: `FOR UPDATE SKIP LOCKED`, so two workers never take the same one). The
//! counters and balances every batch touches are hot rows, locked until commit; one
//! transaction for several batches takes those locks, and pays the commit, once. The jobs
//! of the batches taken along find their row gone and do nothing.

use super::{UsageEvent, period_of};
use crate::AccountId;
use crate::error::DomainError;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::TransferKind;
use entities::usage_batches::{self, Column as BatchCol, Entity as Batches};
use entities::usage_counters::{self, Column as CounterCol, Entity as Counters};
use entities::usage_events::{self, Column as EventCol, Entity as Events};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// Most batches one transaction meters.
const MERGE: u64 = 8;
/// Rows per INSERT statement: 10 columns each, under SQLite's (32,766) and Postgres's
/// (65,535) bind-parameter limits.
const INSERT_CHUNK: usize = 3_000;

/// What metering did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Metered {
    /// Batches metered in this transaction (0: the batch was metered before).
    pub batches: usize,
    /// Events counted for the first time.
    pub counted: usize,
    /// Events already counted (a retried batch, a duplicate id).
    pub duplicates: usize,
    /// Micro-USD debited from credits.
    pub debited: i64,
    /// Micro-USD of cost the balance could not cover (usage already happened).
    pub uncovered: i64,
}

/// Meters `batch_id`, and other waiting batches with it, in one transaction. A batch
/// already metered (its row gone) is a no-op.
pub async fn meter_batch(db: &DatabaseConnection, batch_id: Uuid) -> Result<Metered, DomainError> {
    let txn = crate::db::begin_write(db).await?;
    let pg = txn.get_database_backend() == DatabaseBackend::Postgres;
    // Our own batch, waiting for whoever holds it: once they commit, it is gone.
    let own = Batches::find_by_id(batch_id);
    let own = if pg { own.lock_exclusive() } else { own };
    let Some(own) = own.one(&txn).await? else {
        return Ok(Metered::default());
    };
    let mut batches = vec![own];
    if pg && MERGE > 1 {
        let mut others = Batches::find().filter(BatchCol::Id.ne(batch_id)).order_by_asc(BatchCol::Id).limit(MERGE - 1);
        QuerySelect::query(&mut others).lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        batches.extend(others.all(&txn).await?);
    }
    let mut events: Vec<(Uuid, UsageEvent)> = Vec::new();
    for b in &batches {
        let parsed =
            super::stored::decode(&b.events).map_err(|e| DomainError::Internal(format!("batch {}: {e}", b.id)))?;
        events.extend(parsed.into_iter().map(|e| (b.id, e)));
    }
    let total = events.len();
    let fresh = insert_new_events(&txn, &events).await?;
    let mut metered =
        Metered { batches: batches.len(), counted: fresh.len(), duplicates: total - fresh.len(), ..Metered::default() };

    // Counters: one upsert per key, metric and month, in a fixed order (no deadlocks).
    let mut counters: BTreeMap<(Uuid, String, String), (AccountId, i64, i64)> = BTreeMap::new();
    let mut costs: BTreeMap<(AccountId, Uuid, Uuid), (i64, usize)> = BTreeMap::new();
    for (batch, e) in &fresh {
        let c = counters.entry((e.key_id, e.metric.clone(), period_of(e.at))).or_insert((e.account_id, 0, 0));
        c.1 = c.1.saturating_add(e.quantity);
        c.2 = c.2.saturating_add(e.cost);
        if e.cost > 0 {
            let k = costs.entry((e.account_id, e.key_id, *batch)).or_insert((0, 0));
            k.0 = k.0.saturating_add(e.cost);
            k.1 += 1;
        }
    }
    upsert_counters(&txn, &counters).await?;
    (metered.debited, metered.uncovered) = debit(&txn, &costs).await?;
    Batches::delete_many()
        .filter(BatchCol::Id.is_in(batches.iter().map(|b: &usage_batches::Model| b.id)))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(metered)
}

/// One debit per batch and key, `usage:{batch}:{key}`: traceable to the batch's events
/// (`usage_events.batch_id`) and never posted twice. The balances are read under a lock and
/// every debit posted in a fixed number of statements (`ledger::batch`). Usage that already
/// happened is taken up to the balance; what the balance could not cover is noted on the
/// debit. Returns what was debited and what was not covered, in micro-USD.
async fn debit<C: ConnectionTrait>(
    db: &C,
    costs: &BTreeMap<(AccountId, Uuid, Uuid), (i64, usize)>,
) -> Result<(i64, i64), DomainError> {
    if costs.is_empty() {
        return Ok((0, 0));
    }
    let mut owners: Vec<AccountId> = costs.keys().map(|(account, _, _)| *account).collect();
    owners.dedup();
    let mut balances: HashMap<AccountId, (Uuid, i64)> = ledger::batch::lock_customer_accounts(db, &owners)
        .await?
        .into_iter()
        .filter_map(|a| a.account_id.map(|owner| (owner, (a.id, a.balance.get()))))
        .collect();
    let usage = ledger::system_account(db, SystemAccount::Usage).await?;
    let before: HashMap<AccountId, i64> = balances.iter().map(|(a, (_, b))| (*a, *b)).collect();
    let (mut transfers, mut uncovered, mut exhausted) = (Vec::new(), 0, Vec::new());
    for ((account_id, key_id, batch_id), (cost, n)) in costs {
        let Some((ledger_id, balance)) = balances.get_mut(account_id) else {
            // Never credited: nothing to take.
            uncovered += cost;
            exhausted.push(*account_id);
            continue;
        };
        let charge = Ord::min(*cost, Ord::max(*balance, 0));
        *balance -= charge;
        let short = cost - charge;
        uncovered += short;
        if charge == 0 {
            exhausted.push(*account_id);
            continue;
        }
        let mut description = format!("API usage: {n} events on key {key_id}");
        if short > 0 {
            description.push_str(&format!(" ({short} micro-USD not covered by credits)"));
        }
        transfers.push(TransferRequest {
            id: format!("usage:{batch_id}:{key_id}"),
            debit: *ledger_id,
            credit: usage,
            amount: Micros::new(charge),
            kind: TransferKind::Usage,
            account_id: Some(*account_id),
            reference: batch_id.to_string(),
            description,
        });
    }
    let posted = ledger::batch::post_many(db, &transfers).await?;
    let debited = transfers.iter().filter(|t| posted.contains(&t.id)).map(|t| t.amount.get()).sum();
    let first_batch = costs.keys().map(|(_, _, batch)| *batch).min().unwrap_or_default();
    let after: HashMap<AccountId, i64> = balances.iter().map(|(a, (_, b))| (*a, *b)).collect();
    crossed_thresholds(db, &before, &after, first_batch).await?;
    // Nothing to take: the balance is already zero, so the account's credit keys stop.
    exhausted.dedup();
    for account_id in exhausted {
        crate::api_keys::sync_credit_keys(db, account_id).await?;
    }
    Ok((debited, uncovered))
}

/// Tells the accounts' webhooks of balances this metering took below their `credits.low`
/// threshold or to zero (`credits.exhausted`): once per crossing, keyed by the batch that
/// crossed it.
async fn crossed_thresholds<C: ConnectionTrait>(
    db: &C,
    before: &HashMap<AccountId, i64>,
    after: &HashMap<AccountId, i64>,
    batch: Uuid,
) -> Result<(), DomainError> {
    use crate::webhooks::{EventType, Fact};
    use entities::accounts::{Column as AccCol, Entity as Accounts};
    let moved: Vec<AccountId> =
        after.iter().filter(|(a, b)| before.get(*a).is_some_and(|was| was > *b)).map(|(a, _)| *a).collect();
    if moved.is_empty() {
        return Ok(());
    }
    let thresholds: HashMap<AccountId, i64> = Accounts::find()
        .filter(AccCol::Id.is_in(moved.clone()))
        .filter(AccCol::CreditsLowThreshold.is_not_null())
        .all(db)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.id, a.credits_low_threshold?.saturating_mul(crate::money::MICROS_PER_CREDIT))))
        .collect();
    let mut facts = Vec::new();
    for account_id in moved {
        let (was, now) = (before.get(&account_id).copied().unwrap_or(0), after.get(&account_id).copied().unwrap_or(0));
        let credits = |m: i64| Micros::new(m).to_credits();
        if let Some(&low) = thresholds.get(&account_id)
            && was >= low
            && now < low
        {
            facts.push(Fact {
                account_id,
                kind: EventType::CreditsLow,
                key: format!("credits-low:{account_id}:{batch}"),
                data: serde_json::json!({"balance": credits(now), "threshold": credits(low)}),
            });
        }
        if was > 0 && now <= 0 {
            facts.push(Fact {
                account_id,
                kind: EventType::CreditsExhausted,
                key: format!("credits-exhausted:{account_id}:{batch}"),
                data: serde_json::json!({"balance": 0}),
            });
        }
    }
    crate::webhooks::emit_many(db, facts).await
}

/// Inserts the events, skipping ids the account already has; returns those new. The same
/// id twice among them: the first one counts.
async fn insert_new_events<C: ConnectionTrait>(
    db: &C,
    events: &[(Uuid, UsageEvent)],
) -> Result<Vec<(Uuid, UsageEvent)>, DomainError> {
    let mut seen = HashSet::new();
    let unique: Vec<&(Uuid, UsageEvent)> =
        events.iter().filter(|(_, e)| seen.insert((e.account_id, e.event_id.as_str()))).collect();
    let now = Utc::now();
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let mut inserted: HashSet<(AccountId, String)> = HashSet::new();
    for chunk in unique.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|(batch, e)| usage_events::ActiveModel {
            // A v7 id from the thread's CSPRNG: `Uuid::now_v7` asks the kernel for random
            // bytes each time, tens of thousands of syscalls a second here.
            id: Set(uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid()),
            account_id: Set(e.account_id),
            event_id: Set(e.event_id.clone()),
            api_key_id: Set(e.key_id),
            metric: Set(e.metric.clone()),
            quantity: Set(e.quantity),
            cost: Set(crate::Micros::new(e.cost)),
            occurred_at: Set(e.at),
            batch_id: Set(batch.to_string()),
            created_at: Set(now),
        });
        let mut stmt = Events::insert_many(rows)
            .on_conflict(OnConflict::columns([EventCol::AccountId, EventCol::EventId]).do_nothing().to_owned())
            .into_query();
        stmt.returning(Query::returning().columns([EventCol::AccountId, EventCol::EventId]));
        let built = db.get_database_backend().build(&stmt);
        for row in db.query_all_raw(built).await? {
            let account: AccountId = row.try_get("", "account_id")?;
            let id: String = row.try_get("", "event_id")?;
            inserted.insert((account, id));
        }
    }
    Ok(unique.into_iter().filter(|(_, e)| inserted.contains(&(e.account_id, e.event_id.clone()))).cloned().collect())
}

async fn upsert_counters<C: ConnectionTrait>(
    db: &C,
    counters: &BTreeMap<(Uuid, String, String), (AccountId, i64, i64)>,
) -> Result<(), DomainError> {
    if counters.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows: Vec<usage_counters::ActiveModel> = counters
        .iter()
        .map(|((key, metric, period), (account, quantity, cost))| usage_counters::ActiveModel {
            id: Set(Uuid::now_v7()),
            api_key_id: Set(*key),
            account_id: Set(*account),
            metric: Set(metric.clone()),
            period: Set(period.clone()),
            quantity: Set(*quantity),
            cost: Set(crate::Micros::new(*cost)),
            updated_at: Set(now),
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        Counters::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([CounterCol::ApiKeyId, CounterCol::Metric, CounterCol::Period])
                    .value(
                        CounterCol::Quantity,
                        Expr::col((Counters, CounterCol::Quantity)).add(Expr::cust("excluded.quantity")),
                    )
                    .value(CounterCol::Cost, Expr::col((Counters, CounterCol::Cost)).add(Expr::cust("excluded.cost")))
                    .update_column(CounterCol::UpdatedAt)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
