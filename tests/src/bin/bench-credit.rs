//! The credit benchmark's driver: creates N pending card top-up orders over A accounts,
//! delivers each one's signed `checkout.session.completed` to the api (C at a time), and
//! waits until every order is completed. Then it checks the books: one top-up transfer and
//! one payment per order, and each account's balance exactly what its orders paid.
//! Prints one JSON line.
//!
//! With `BENCH_CREDIT_WORKERS=W` set, no worker runs while the events are delivered: the
//! driver then starts W `worker` processes (from its own directory) and times from there.
//!
//! usage: bench-credit <database_url> <api_url> <webhook_secret> <n> [accounts=100] [connections=64]

use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use std::time::{Duration, Instant};

/// Each top-up: $10.
const CENTS: i64 = 1_000;

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?.ok_or("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench-credit <database_url> <api_url> <webhook_secret> <n> [accounts=100] [connections=64]";
    let [url, api, secret, n, rest @ ..] = args.as_slice() else { return Err(usage.into()) };
    let n: usize = n.parse()?;
    let accounts: usize = rest.first().map_or(Ok(100), |a| a.parse())?;
    let connections: usize = rest.get(1).map_or(Ok(64), |c| c.parse())?;
    let db = sea_orm::Database::connect(url.as_str()).await?;

    let mut owners = Vec::with_capacity(accounts);
    for i in 0..accounts.max(1) {
        owners.push(billing::accounts::ensure(&db, &format!("bench-credit-{i}")).await?.id);
    }
    let orders: Vec<(billing::OrderId, billing::AccountId)> =
        (0..n).map(|i| (billing::OrderId::generate(), owners[i % owners.len()])).collect();
    tollgate_tests::db::insert_topup_orders(&db, &orders, CENTS * 10_000).await?;

    let http = reqwest::Client::builder().pool_max_idle_per_host(connections).build()?;
    let hook = format!("{api}/payment/webhook/stripe");
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(orders.iter().enumerate())
        .map(|(i, (order, _))| {
            let (http, hook) = (http.clone(), hook.clone());
            let body = serde_json::to_vec(&tollgate_tests::events::checkout_session_completed(
                &format!("evt_bench_credit_{i}_{}", uuid::Uuid::from(*order).simple()),
                *order,
                CENTS,
            ));
            async move {
                let Ok(body) = body else { return 0 };
                let sig = tollgate_tests::events::signature(&body, tollgate_tests::events::now(), secret);
                match http.post(&hook).header("stripe-signature", sig).body(body).send().await {
                    Ok(res) => res.status().as_u16(),
                    Err(_) => 0,
                }
            }
        })
        .buffer_unordered(connections)
        .collect()
        .await;
    let delivered_s = started.elapsed().as_secs_f64();
    let refused = statuses.iter().filter(|s| **s != 200).count();
    let backlog: usize = std::env::var("BENCH_CREDIT_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(0);
    let mut workers = Vec::new();
    let started = if backlog > 0 {
        let dir = std::env::current_exe()?.parent().ok_or("no directory")?.to_path_buf();
        for _ in 0..backlog {
            workers.push(std::process::Command::new(dir.join("worker")).spawn()?);
        }
        Instant::now()
    } else {
        started
    };

    let deadline = Instant::now() + Duration::from_secs(900);
    // While events wait, a look through the partial index of open jobs costs the database
    // nothing; a count of completed orders scans them all, so it runs only once no Stripe
    // event's job is open (a batch completes its orders and ends their events' jobs in one
    // transaction).
    let waiting =
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE queue = 'stripe_event' AND finished_at IS NULL LIMIT 1) AS w";
    let completed = loop {
        if scalar(&db, waiting).await? == 0 || Instant::now() > deadline {
            let c = scalar(&db, "SELECT count(*) FROM orders WHERE status = 'completed' AND kind = 'topup'").await?;
            if c as usize >= n || Instant::now() > deadline {
                break c;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let with_startup_s = started.elapsed().as_secs_f64();
    // With a backlog, timed from the first claim, as the queue benchmark is: a worker
    // process's start-up is not the credit path's cost (`credited_with_startup_s` has it).
    let first_claim_ago = scalar(
        &db,
        "SELECT coalesce((extract(epoch from clock_timestamp() - min(started_at)) * 1e6)::bigint, 0) FROM jobs \
         WHERE queue = 'stripe_event'",
    )
    .await?;
    let credited_s = if backlog > 0 && first_claim_ago > 0 { first_claim_ago as f64 / 1e6 } else { with_startup_s };
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    let transfers = scalar(&db, "SELECT count(*) FROM ledger_transfers WHERE kind = 'topup'").await?;
    let payments = scalar(&db, "SELECT count(*) FROM payments").await?;
    let credited =
        scalar(&db, "SELECT coalesce(sum(balance), 0)::bigint FROM ledger_accounts WHERE code LIKE 'credits:%'")
            .await?;
    let want = n as i64 * CENTS * 10_000;
    let dead = scalar(&db, "SELECT count(*) FROM jobs WHERE status = 'dead'").await?;
    let books_right = completed as usize == n && transfers as usize == n && payments as usize == n && credited == want;
    println!(
        "{}",
        serde_json::json!({
            "orders": n,
            "backlog": backlog > 0,
            "accounts": accounts,
            "delivered_s": delivered_s,
            "refused": refused,
            "credited_s": credited_s,
            "credited_with_startup_s": with_startup_s,
            "credits_per_s": (n as f64 / credited_s).round(),
            "completed": completed,
            "transfers": transfers,
            "payments": payments,
            "credited_micros": credited,
            "expected_micros": want,
            "dead_jobs": dead,
            "books_right": books_right,
        })
    );
    if !books_right {
        return Err("the books do not match what was paid".into());
    }
    Ok(())
}
