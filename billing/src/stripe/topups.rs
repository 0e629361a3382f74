//! Card top-ups credited in batches. One paid top-up at a time costs a transaction of about
//! ten statements, and every one of them updates the same clearing account's balance row:
//! the ledger then runs at the database's one-transfer-per-transaction rate (pgbench's).
//! Instead, the job of one `checkout.session.completed` event takes the other paid top-up
//! events waiting in the inbox along (as a metering job takes other batches), and applies
//! them all in one transaction of a fixed number of statements: one insert of transfers
//! (keyed by order, so each credits once), one balance update for every account touched,
//! one insert of payments, one update of orders, one of the inbox, and one that ends the
//! other events' waiting jobs as done (`outbox::settle_done_by_others`).
//!
//! The waiting events are found through their waiting jobs (`FOR UPDATE SKIP LOCKED`), so
//! what one batch takes no other batch or worker takes, and the inbox needs no index on
//! its status: marking an event is then an update in place (see the migration
//! `stripe_inbox_marked_in_place`). A job already claimed is not taken from the outbox;
//! the runs of one process that wait for a turn are passed to the batch that has one
//! instead (`adopted`), and learn whether their events were applied.
//!
//! Two batches run at a time (`SLOTS`), each moving the balances last, so they overlap in
//! all but that. A job whose event another transaction holds steps aside (`Own::Busy`):
//! back to the outbox for a moment, not waiting on the lock.
//!
//! Only plain top-ups travel in a batch. A plan checkout, a session in another currency
//! than its order, or one that is not ours is left for its own job, which applies it alone
//! as before (`checkout::apply_paid`).

use super::checkout::CheckoutSession;
use crate::AccountId;
use crate::OrderId;
use crate::db::one_of;
use crate::error::DomainError;
use crate::jobs::Job;
use crate::jobs::contracts::StripeEvent;
use crate::ledger::{self, SystemAccount, TransferRequest};
use crate::money::Micros;
use chrono::Utc;
use entities::ledger_accounts::{Column as AccCol, Entity as Accounts};
use entities::orders::{Column as OrderCol, Entity as Orders};
use entities::payments::{Column as PayCol, Entity as Payments};
use entities::stripe_events::{self, Column as EvCol, Entity as Events};
use entities::{JobStatus, OrderKind, OrderStatus, PaymentProvider, PaymentStatus, StripeEventStatus, TransferKind};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect, Statement};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Most events one transaction applies: from a backlog of 20,000 on the 2-core benchmark
/// machine, one batch at a time, 256 credited ~4,800/s, 1,024 ~8,500/s, 4,096 no more
/// (each statement's cost grows with the batch by then).
pub const BATCH: u64 = 1024;

/// How many batches run at once. One at a time left a core idle while the other parsed or
/// waited on a round trip; more than a core's worth only splits the waiting events into
/// smaller batches (on the 2-core benchmark machine three credited ~7,600/s, two ~10,000/s).
/// They overlap in everything but the balance update at their end.
pub const SLOTS: usize = 2;

/// The advisory lock of each slot (numbers of our own choosing: "topups", then + 1).
const SLOT_LOCKS: [i64; SLOTS] = [0x746f_7075_7073, 0x746f_7075_7074];

/// The event types a batch gathers.
const TYPES: [&str; 2] = ["checkout.session.completed", "checkout.session.async_payment_succeeded"];

/// What became of the job's own event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Own {
    /// Another job applied it (in its batch) first.
    AlreadyDone,
    /// Not a plain paid top-up: the caller rolls the transaction back and applies it alone.
    NotATopup,
    /// Another transaction holds the event (rare now that a batch takes only the events of
    /// waiting jobs): the caller rolls back and tries again shortly.
    Busy,
    /// Applied with `events` events in all, `credited` of them credited now; `adopted` are
    /// the events among those the caller passed along that were applied.
    Applied { events: usize, credited: usize, adopted: HashSet<String> },
}

/// A paid top-up ready to post.
struct Paid {
    event_id: String,
    order_id: OrderId,
    account_id: AccountId,
    amount: Micros,
    charged: Micros,
    reference: String,
}

/// Applies the job's own event and the paid top-up events waiting beside it, in `db`
/// (a transaction the caller commits). `adopted` are the events of other runs of the
/// caller's process that wait for a turn: their jobs are claimed, so no batch takes them
/// from the outbox, but this one applies them too, and tells which (their runs then end
/// at once, as the events' jobs taken from the outbox do).
pub async fn apply_batch<C: ConnectionTrait>(db: &C, own_id: &str, adopted: &[String]) -> Result<Own, DomainError> {
    let pg = db.get_database_backend();
    let postgres = pg == DatabaseBackend::Postgres;
    // The own event, read without a lock first: most often a batch has applied it already.
    let Some(own) = Events::find_by_id(own_id.to_owned()).one(db).await? else {
        return Err(DomainError::NotFound("stripe event"));
    };
    if matches!(own.status, StripeEventStatus::Processed | StripeEventStatus::Ignored) {
        return Ok(Own::AlreadyDone);
    }
    if paid_topup_session(&own).is_none() {
        return Ok(Own::NotATopup);
    }
    if postgres {
        // At most `SLOTS` batches at a time (advisory locks): more would only split the
        // waiting events thinner. With every slot taken, wait for one (the caller keeps
        // each process to `SLOTS` jobs here, so few wait with a connection).
        let mut leading = false;
        for slot in SLOT_LOCKS {
            leading = lock(db, "SELECT pg_try_advisory_xact_lock($1) AS locked", slot).await?;
            if leading {
                break;
            }
        }
        if !leading {
            let slot = SLOT_LOCKS[own_id.bytes().map(usize::from).sum::<usize>() % SLOTS];
            lock(db, "SELECT true AS locked FROM pg_advisory_xact_lock($1)", slot).await?;
        }
    }
    // Now the own event under a lock, skipped rather than waited on when a batch holds it:
    // that batch either applies it or rolls back, and either way this job does better to
    // step aside for a moment (`Own::Busy`) than to hold a slot while it waits.
    let mut own = Events::find_by_id(own_id.to_owned());
    if postgres {
        own = own.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(own) = own.one(db).await? else { return Ok(Own::Busy) };
    if matches!(own.status, StripeEventStatus::Processed | StripeEventStatus::Ignored) {
        return Ok(Own::AlreadyDone);
    }
    let Some(first) = paid_topup_session(&own) else { return Ok(Own::NotATopup) };
    // The adopted runs' events, under a lock as the own one (skipped where another
    // transaction holds one: that run learns it was not applied, and goes its own way).
    let adopted: Vec<stripe_events::Model> = if adopted.is_empty() {
        Vec::new()
    } else {
        let mut find = Events::find().filter(one_of(pg, EvCol::Id, adopted.to_vec()));
        if postgres {
            find = find.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let found = find.all(db).await?;
        found
            .into_iter()
            .filter(|e| !matches!(e.status, StripeEventStatus::Processed | StripeEventStatus::Ignored))
            .collect()
    };
    // Others waiting, found through their waiting jobs and taken with them: a job held by
    // another batch, or claimed by a worker, is skipped, never waited on (its event is that
    // batch's or that run's). Their events are then marked processed in one statement; the
    // few that turn out not to be top-ups of ours go back below, their jobs untouched.
    let now = Utc::now();
    let taken = waiting_others(db, own_id).await?;
    let job_of: HashMap<&str, Uuid> = taken.iter().map(|(event, job)| (event.as_str(), *job)).collect();
    let others = if taken.is_empty() {
        Vec::new()
    } else {
        Events::update_many()
            .col_expr(EvCol::Status, Expr::value(StripeEventStatus::Processed.as_str()))
            .col_expr(EvCol::ProcessedAt, Expr::value(Some(now)))
            .filter(one_of(pg, EvCol::Id, taken.iter().map(|(event, _)| event.clone()).collect()))
            .exec_with_returning(db)
            .await?
    };
    let mut sessions = vec![(own.id.clone(), first)];
    sessions.extend(adopted.iter().filter_map(|e| Some((e.id.clone(), paid_topup_session(e)?))));
    sessions.extend(others.iter().filter_map(|e| Some((e.id.clone(), paid_topup_session(e)?))));

    let order_ids: Vec<OrderId> = sessions.iter().filter_map(|(_, s)| s.order_id()).collect();
    let orders: HashMap<OrderId, entities::orders::Model> = Orders::find()
        .filter(one_of(pg, OrderCol::Id, order_ids.into_iter().map(Uuid::from).collect()))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let paid: Vec<Paid> = sessions
        .into_iter()
        .filter_map(|(event_id, s)| {
            let order = orders.get(&s.order_id()?)?;
            let same_currency = s.currency.as_deref().is_none_or(|c| c.eq_ignore_ascii_case(&order.currency));
            (order.kind == OrderKind::Topup && same_currency).then(|| Paid {
                event_id,
                order_id: order.id,
                account_id: order.account_id,
                amount: order.amount,
                // What Stripe says it charged; the order's amount is what the customer bought.
                charged: s.amount_total.and_then(Micros::from_cents).unwrap_or(order.amount),
                reference: s.payment_intent.clone().unwrap_or_else(|| s.id.clone()),
            })
        })
        .collect();
    if paid.first().is_none_or(|p| p.event_id != own_id) {
        // The own event is not a top-up of ours after all: its job applies it alone (the
        // caller rolls this transaction back, the others' marks with it).
        return Ok(Own::NotATopup);
    }
    // Taken along but not top-ups of ours: back to waiting, for their own jobs. An earlier
    // run's error on one that is now applied is cleared, as on the job's own event.
    let applied: HashSet<&str> = paid.iter().map(|p| p.event_id.as_str()).collect();
    let (stale, not_ours): (Vec<_>, Vec<_>) = others
        .iter()
        .filter(|e| e.last_error.is_some() || !applied.contains(e.id.as_str()))
        .partition(|e| applied.contains(e.id.as_str()));
    if !not_ours.is_empty() {
        Events::update_many()
            .col_expr(EvCol::Status, Expr::value(StripeEventStatus::Received.as_str()))
            .col_expr(EvCol::ProcessedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .filter(one_of(pg, EvCol::Id, not_ours.iter().map(|e| e.id.clone()).collect()))
            .exec(db)
            .await?;
    }
    let adopted: HashSet<String> =
        adopted.into_iter().map(|e| e.id).filter(|id| applied.contains(id.as_str())).collect();
    let own_and_stale =
        stale.iter().map(|e| e.id.clone()).chain(adopted.iter().cloned()).chain([own_id.to_owned()]).collect();
    Events::update_many()
        .col_expr(EvCol::Status, Expr::value(StripeEventStatus::Processed.as_str()))
        .col_expr(EvCol::ProcessedAt, Expr::value(Some(now)))
        .col_expr(EvCol::LastError, Expr::value(Option::<String>::None))
        .filter(one_of(pg, EvCol::Id, own_and_stale))
        .exec(db)
        .await?;
    // The other events' jobs have nothing left to do: they end with this transaction
    // rather than each being claimed and run to find that out. Their rows are this
    // batch's until it commits, so no worker claims them meanwhile (should it roll back,
    // they are pending again).
    let others: Vec<Uuid> = paid.iter().filter_map(|p| job_of.get(p.event_id.as_str()).copied()).collect();
    crate::jobs::outbox::settle_done_by_others(db, &others).await?;

    let debit = ledger::system_account(db, SystemAccount::StripeClearing).await?;
    let credit_of = customer_accounts(db, paid.iter().map(|p| p.account_id).collect()).await?;
    let mut transfers = Vec::with_capacity(paid.len());
    for p in &paid {
        let credit = *credit_of.get(&p.account_id).ok_or(DomainError::NotFound("ledger account"))?;
        transfers.push(TransferRequest {
            id: format!("order:{}", p.order_id),
            debit,
            credit,
            amount: p.amount,
            kind: TransferKind::Topup,
            account_id: Some(p.account_id),
            reference: p.reference.clone(),
            description: "Credit top-up (card)".to_owned(),
        });
    }
    // The transfers now, the balances they move last (see the end).
    let posted = ledger::batch::insert_transfers(db, &transfers).await?;
    // Two events for one payment (completed, then async success) post one transfer.
    let mut seen = HashSet::new();
    let now_posted: Vec<&Paid> =
        paid.iter().filter(|p| posted.contains(&format!("order:{}", p.order_id)) && seen.insert(p.order_id)).collect();
    if !now_posted.is_empty() {
        insert_payments(db, &now_posted, now).await?;
        Orders::update_many()
            .col_expr(OrderCol::Status, Expr::value(OrderStatus::Completed.as_str()))
            .col_expr(OrderCol::CompletedAt, Expr::value(Some(now)))
            .col_expr(OrderCol::UpdatedAt, Expr::value(now))
            .filter(one_of(pg, OrderCol::Id, now_posted.iter().map(|p| Uuid::from(p.order_id)).collect()))
            .filter(OrderCol::Status.ne(OrderStatus::Completed))
            .exec(db)
            .await?;
        // Told to the accounts' webhooks with the batch, in its transaction.
        let facts = now_posted.iter().flat_map(|p| {
            [
                super::payment::succeeded(
                    PaymentProvider::Stripe,
                    p.account_id,
                    Some(p.order_id),
                    &p.reference,
                    p.charged,
                ),
                super::checkout::topped_up(p.account_id, p.order_id, p.amount),
            ]
        });
        crate::webhooks::emit_many(db, facts.collect()).await?;
    }
    // Last, the balances: every batch moves the clearing account's, so each holds that row
    // only from here to its commit, and concurrent batches overlap in all the rest. They
    // are locked in id order (as `ledger::post` locks them), so batches and single
    // transfers touching the same accounts cannot deadlock.
    ledger::batch::move_balances(db, &transfers, &posted).await?;
    Ok(Own::Applied { events: paid.len(), credited: now_posted.len(), adopted })
}

/// Up to `BATCH - 1` paid top-up candidates waiting beside `own_id`, each with its waiting
/// job: (event id, job id). Read through the open jobs of the Stripe queue (the partial
/// index `jobs_open_idx`), each job's event by the id its key ends with, so the inbox
/// needs no index of its own that a mark would change. On Postgres the jobs are locked
/// (`FOR UPDATE SKIP LOCKED`): what one batch takes, no other batch or claim takes.
/// In no particular order beyond the index's (due time): any waiting top-ups will do, and
/// each event's own job sees to it in time.
async fn waiting_others<C: ConnectionTrait>(db: &C, own_id: &str) -> Result<Vec<(String, Uuid)>, DomainError> {
    let backend = db.get_database_backend();
    let postgres = backend == DatabaseBackend::Postgres;
    // Where the event id starts in a Stripe event job's key (SQL counts from 1).
    let prefix = i32::try_from(StripeEvent { event_id: String::new() }.key().len() + 1).unwrap_or(i32::MAX);
    let [p1, p2, p3] = if postgres { ["$1", "$2", "$3"] } else { ["?", "?", "?"] };
    let sql = format!(
        "SELECT j.id AS job_id, e.id AS event_id FROM jobs j JOIN stripe_events e ON e.id = substr(j.job_key, {p1}) \
         WHERE j.queue = '{queue}' AND j.finished_at IS NULL AND j.status IN ('{pending}', 'dispatched') \
         AND e.status = '{received}' AND e.event_type IN ('{t0}', '{t1}') AND e.id <> {p2} LIMIT {p3}{lock}",
        queue = StripeEvent::QUEUE.as_str(),
        pending = JobStatus::Pending.as_str(),
        received = StripeEventStatus::Received.as_str(),
        t0 = TYPES[0],
        t1 = TYPES[1],
        lock = if postgres { " FOR UPDATE OF j SKIP LOCKED" } else { "" },
    );
    let values: [sea_orm::Value; 3] = [prefix.into(), own_id.into(), ((BATCH - 1) as i64).into()];
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get::<String>("", "event_id")?, r.try_get::<Uuid>("", "job_id")?)))
        .collect::<Result<_, sea_orm::DbErr>>()?)
}

/// The payments of the top-ups credited now, as succeeded Stripe payments (one per
/// payment intent: a second insert of one changes nothing). On Postgres one array per
/// column, one statement text for any batch; eleven values a row made each batch's
/// statement thousands of parameters long, parsed and planned anew.
async fn insert_payments<C: ConnectionTrait>(
    db: &C,
    paid: &[&Paid],
    now: chrono::DateTime<Utc>,
) -> Result<(), DomainError> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        Payments::insert_many(paid.iter().map(|p| {
            super::payment::succeeded_row(
                PaymentProvider::Stripe,
                p.account_id,
                Some(p.order_id),
                &p.reference,
                p.charged,
                now,
            )
        }))
        .on_conflict_do_nothing_on([PayCol::Provider, PayCol::ProviderRef])
        .exec_without_returning(db)
        .await?;
        return Ok(());
    }
    let sql = "INSERT INTO payments (id, account_id, order_id, provider, provider_ref, amount, amount_refunded, \
               status, created_at, updated_at) \
               SELECT id, account_id, order_id, $6, provider_ref, amount, 0, $7, $8, $8 \
               FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int8[]) \
               AS t(id, account_id, order_id, provider_ref, amount) \
               ON CONFLICT (provider, provider_ref) DO NOTHING";
    let values: Vec<sea_orm::Value> = vec![
        paid.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>().into(),
        paid.iter().map(|p| Uuid::from(p.account_id)).collect::<Vec<_>>().into(),
        paid.iter().map(|p| Uuid::from(p.order_id)).collect::<Vec<_>>().into(),
        paid.iter().map(|p| p.reference.clone()).collect::<Vec<_>>().into(),
        paid.iter().map(|p| p.charged.get()).collect::<Vec<_>>().into(),
        PaymentProvider::Stripe.as_str().into(),
        PaymentStatus::Succeeded.as_str().into(),
        now.into(),
    ];
    db.execute_raw(Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)).await?;
    Ok(())
}

/// Takes a batch slot's advisory lock `key` (Postgres) with `sql`; whether it was taken.
async fn lock<C: ConnectionTrait>(db: &C, sql: &str, key: i64) -> Result<bool, DomainError> {
    let stmt = Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, [key.into()]);
    Ok(match db.query_one_raw(stmt).await? {
        Some(row) => row.try_get::<bool>("", "locked")?,
        None => false,
    })
}

/// The session of an event that is a paid top-up candidate (payment mode, paid, naming an
/// order); the order itself is checked after.
fn paid_topup_session(e: &stripe_events::Model) -> Option<CheckoutSession> {
    #[derive(serde::Deserialize)]
    struct Event {
        data: Data,
    }
    #[derive(serde::Deserialize)]
    struct Data {
        object: CheckoutSession,
    }
    let s = serde_json::from_str::<Event>(&e.payload).ok()?.data.object;
    let payment = s.mode.as_deref().is_none_or(|m| m == "payment");
    (payment && s.payment_status.as_deref() == Some("paid") && s.order_id().is_some()).then_some(s)
}

/// The customers' credit accounts by account, created where missing (rare: one per new
/// customer), read in one query otherwise.
async fn customer_accounts<C: ConnectionTrait>(
    db: &C,
    accounts: HashSet<AccountId>,
) -> Result<HashMap<AccountId, Uuid>, DomainError> {
    let codes: Vec<String> = accounts.iter().copied().map(ledger::customer_code).collect();
    let mut found: HashMap<AccountId, Uuid> = Accounts::find()
        .filter(one_of(db.get_database_backend(), AccCol::Code, codes))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|a| Some((a.account_id?, a.id)))
        .collect();
    for account in accounts {
        if let std::collections::hash_map::Entry::Vacant(slot) = found.entry(account) {
            slot.insert(ledger::customer_account(db, account).await?);
        }
    }
    Ok(found)
}
