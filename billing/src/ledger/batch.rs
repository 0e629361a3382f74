//! Many transfers in a fixed number of statements, for metering and batched card top-ups:
//! a batch posted one transfer at a time costs several round trips per transfer, which is what the ledger
//! transaction benchmark (pgbench) tops out at. Same guarantees as [`super::post`]: each
//! id posts once, a transfer and its balance changes commit together (in the caller's
//! transaction), and a customer's balance never goes below zero.

use super::TransferRequest;
use crate::AccountId;
use crate::error::DomainError;
use chrono::Utc;
use entities::LedgerAccountKind;
use entities::ledger_accounts::{self, Column as AccCol, Entity as Accounts};
use entities::ledger_transfers::{Column as TrCol, Entity as Transfers};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Statement,
};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// Rows per INSERT: under SQLite's and Postgres's bind-parameter limits (9 per row).
const CHUNK: usize = 1_000;

/// The customers' credit accounts that exist, read under a row lock (Postgres) in id
/// order, so amounts computed from these balances stay right until the caller commits and
/// concurrent lockers cannot deadlock. SQLite runs one writer at a time anyway.
pub async fn lock_customer_accounts<C: ConnectionTrait>(
    db: &C,
    account_ids: &[AccountId],
) -> Result<Vec<ledger_accounts::Model>, DomainError> {
    let codes: Vec<String> = account_ids.iter().copied().map(super::customer_code).collect();
    let mut rows = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(CHUNK) {
        let q = Accounts::find().filter(AccCol::Code.is_in(chunk.iter().cloned())).order_by_asc(AccCol::Id);
        rows.extend(crate::db::for_update(db, q).all(db).await?);
    }
    Ok(rows)
}

/// Posts every transfer whose id is new; returns the ids posted now (an id posted before
/// changes nothing). Balances move by one UPDATE for all the accounts touched.
pub async fn post_many<C: ConnectionTrait>(db: &C, reqs: &[TransferRequest]) -> Result<HashSet<String>, DomainError> {
    let posted = insert_transfers(db, reqs).await?;
    move_balances(db, reqs, &posted).await?;
    Ok(posted)
}

/// The first half of [`post_many`]: inserts every transfer whose id is new and returns the
/// ids posted now, leaving balances untouched. The caller moves them with
/// [`move_balances`] before it commits, as late as it can: the balance rows are what
/// concurrent batches queue on, so the shorter they are held, the more batches overlap.
/// Rows go in id order, so two batches holding the same id cannot wait on each other.
pub async fn insert_transfers<C: ConnectionTrait>(
    db: &C,
    reqs: &[TransferRequest],
) -> Result<HashSet<String>, DomainError> {
    if let Some(bad) = reqs.iter().find(|r| !r.amount.is_positive() || r.debit == r.credit) {
        return Err(DomainError::Invalid(format!("transfer {}: a positive amount between two accounts", bad.id)));
    }
    let now = Utc::now();
    let backend = db.get_database_backend();
    let mut sorted: Vec<&TransferRequest> = reqs.iter().collect();
    sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut posted = HashSet::new();
    for chunk in sorted.chunks(CHUNK) {
        let built = if backend == DatabaseBackend::Postgres {
            insert_arrays(chunk, now)
        } else {
            let mut stmt = Transfers::insert_many(chunk.iter().map(|r| r.row(now)))
                .on_conflict(OnConflict::column(TrCol::Id).do_nothing().to_owned())
                .into_query();
            stmt.returning(Query::returning().column(TrCol::Id));
            backend.build(&stmt)
        };
        for row in db.query_all_raw(built).await? {
            posted.insert(row.try_get::<String>("", "id")?);
        }
    }
    Ok(posted)
}

/// The second half of [`post_many`]: moves the balances by the transfers of `reqs` that
/// were `posted` now, in one UPDATE for every account touched, each row locked first in
/// id order (so concurrent movers cannot deadlock); refuses a customer's balance below zero.
pub async fn move_balances<C: ConnectionTrait>(
    db: &C,
    reqs: &[TransferRequest],
    posted: &HashSet<String>,
) -> Result<(), DomainError> {
    let now = Utc::now();
    let backend = db.get_database_backend();
    // What each account gains or loses through the transfers posted now.
    let mut deltas: BTreeMap<Uuid, i64> = BTreeMap::new();
    // An id given twice posts once (the second row conflicts with the first): count it once.
    let mut counted = HashSet::new();
    for r in reqs.iter().filter(|r| posted.contains(&r.id) && counted.insert(r.id.as_str())) {
        *deltas.entry(r.debit).or_default() -= r.amount.get();
        *deltas.entry(r.credit).or_default() += r.amount.get();
    }
    deltas.retain(|_, d| *d != 0);
    if deltas.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = deltas.keys().copied().collect();
    let q = Accounts::find().filter(crate::db::one_of(backend, AccCol::Id, ids)).order_by_asc(AccCol::Id);
    crate::db::for_update(db, q).all(db).await?;
    let updated = if backend == DatabaseBackend::Postgres {
        let (ids, amounts): (Vec<Uuid>, Vec<i64>) = deltas.iter().map(|(id, d)| (*id, *d)).unzip();
        let sql = "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta, updated_at = $3 \
                   FROM unnest($1::uuid[], $2::int8[]) AS d(id, delta) WHERE a.id = d.id RETURNING a.*";
        let stmt = Statement::from_sql_and_values(backend, sql, [ids.into(), amounts.into(), now.into()]);
        Accounts::find().from_raw_sql(stmt).all(db).await?
    } else {
        let mut case = CaseStatement::new();
        for (id, delta) in &deltas {
            case = case.case(AccCol::Id.eq(*id), Expr::col(AccCol::Balance).add(*delta));
        }
        Accounts::update_many()
            .col_expr(AccCol::Balance, case.finally(Expr::col(AccCol::Balance)).into())
            .col_expr(AccCol::UpdatedAt, Expr::value(now))
            .filter(AccCol::Id.is_in(deltas.keys().copied()))
            .exec_with_returning(db)
            .await?
    };
    if updated.len() != deltas.len() {
        return Err(DomainError::NotFound("ledger account"));
    }
    for after in updated {
        if !after.allow_negative && after.balance.get() < 0 {
            // The CHECK constraint refuses this too; the caller's transaction rolls back.
            return Err(DomainError::InsufficientFunds);
        }
        let delta = deltas.get(&after.id).copied().unwrap_or(0);
        // A customer's balance reaching zero, or leaving it: their credit keys follow.
        let crossed = (delta < 0 && after.balance.get() == 0) || (delta > 0 && after.balance.get() - delta <= 0);
        if after.kind == LedgerAccountKind::CustomerCredits
            && crossed
            && let Some(account) = after.account_id
        {
            crate::api_keys::sync_credit_keys(db, account).await?;
        }
    }
    Ok(())
}

/// The insert of `chunk` on Postgres, one array per column: one statement text for any
/// number of transfers (see [`crate::db::one_of`]), returning the ids posted now.
fn insert_arrays(chunk: &[&TransferRequest], now: chrono::DateTime<Utc>) -> Statement {
    use sea_orm::Value;
    let owners = chunk.iter().map(|r| Value::Uuid(r.account_id.map(Uuid::from))).collect();
    let values: Vec<Value> = vec![
        chunk.iter().map(|r| r.id.clone()).collect::<Vec<_>>().into(),
        chunk.iter().map(|r| r.debit).collect::<Vec<_>>().into(),
        chunk.iter().map(|r| r.credit).collect::<Vec<_>>().into(),
        chunk.iter().map(|r| r.amount.get()).collect::<Vec<_>>().into(),
        chunk.iter().map(|r| r.kind.as_str().to_owned()).collect::<Vec<_>>().into(),
        Value::Array(sea_orm::sea_query::ArrayType::Uuid, Some(Box::new(owners))),
        chunk.iter().map(|r| r.reference.clone()).collect::<Vec<_>>().into(),
        chunk.iter().map(|r| r.description.clone()).collect::<Vec<_>>().into(),
        now.into(),
    ];
    let sql = "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, kind, account_id, \
               reference, description, created_at) \
               SELECT id, debit, credit, amount, kind, owner, reference, description, $9 \
               FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[], $6::uuid[], $7::text[], \
               $8::text[]) AS t(id, debit, credit, amount, kind, owner, reference, description) \
               ON CONFLICT (id) DO NOTHING RETURNING id";
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}
