//! Enqueues N `noop` jobs the way producers do: outbox rows written in transactions of
//! CHUNK, each followed by one bounded Redis wake-up (as the webhook inbox does after a
//! group commit). Prints one JSON line with the rate.
//!
//! usage: enqueue <database_url> <redis_url> <redis_prefix> <n> [chunk=1000]

use billing::jobs::contracts::Noop;
use billing::jobs::{Job, QueuePolicy};
use sea_orm::{EntityTrait, TransactionTrait};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: enqueue <database_url> <redis_url> <redis_prefix> <n> [chunk=1000]";
    let [url, redis_url, prefix, n, rest @ ..] = args.as_slice() else { return Err(usage.into()) };
    let n: usize = n.parse()?;
    let chunk: usize = rest.first().map_or(Ok(1000), |c| c.parse())?;
    let db = sea_orm::Database::connect(url.as_str()).await?;
    let redis = redis::Client::open(redis_url.as_str())?;
    let dispatcher = platform::dispatch::Dispatcher::new(redis.get_connection_manager().await?, prefix.clone(), 1000);
    let policy = QueuePolicy::default_for(Noop::QUEUE);
    let started = std::time::Instant::now();
    let mut next = 0usize;
    while next < n {
        let end = (next + chunk).min(n);
        let rows = (next..end)
            .map(|i| billing::jobs::outbox::new_row(&Noop { id: i.to_string() }, &policy))
            .collect::<Result<Vec<_>, _>>()?;
        let first = match rows.first().map(|r| &r.id) {
            Some(sea_orm::ActiveValue::Set(id)) => Some(*id),
            _ => None,
        };
        let txn = db.begin().await?;
        entities::jobs::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        txn.commit().await?;
        if let Some(id) = first {
            dispatcher.wake(Noop::QUEUE, id).await;
        }
        next = end;
    }
    let ms = started.elapsed().as_millis().max(1);
    println!("{{\"enqueued\": {n}, \"enqueue_ms\": {ms}, \"enqueue_per_s\": {}}}", n as u128 * 1000 / ms);
    Ok(())
}
