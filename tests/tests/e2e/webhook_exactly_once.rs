//! A signed `checkout.session.completed` for a top-up ends as exactly one credit, however
//! often and however concurrently it is delivered.

use billing::Micros;
use entities::{OrderStatus, PayMethod, StripeEventStatus};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use tollgate_tests::events::checkout_session_completed;
use tollgate_tests::{Backend, TestApp, TestOptions};

async fn five_deliveries_three_at_once(backend: Backend) {
    let app = TestApp::with(TestOptions { backend, ..Default::default() }).await;
    let token = app.jwt("user-five", "billing:read billing:write");
    let (status, body) = app.get("/credits/balance", &token).await;
    assert_eq!((status, body), (200, json!({"success": true, "data": {"balance": 0}})));

    let account = billing::accounts::ensure(&app.db.conn, "user-five").await.expect("account");
    let order = billing::orders::create_topup(
        &app.db.conn,
        account.id,
        Micros::from_usd(25).expect("amount"),
        PayMethod::Stripe,
    )
    .await
    .expect("order");
    let event = checkout_session_completed("evt_five_deliveries", order.id, 2500);

    for _ in 0..2 {
        assert_eq!(app.deliver(&event).await.status(), 200);
    }
    let concurrent = futures::future::join_all((0..3).map(|_| app.deliver(&event))).await;
    for res in concurrent {
        assert_eq!(res.status(), 200);
    }
    app.wait_drained(Duration::from_secs(30)).await;

    let transfers = entities::ledger_transfers::Entity::find()
        .filter(entities::ledger_transfers::Column::AccountId.eq(account.id))
        .all(&app.db.conn)
        .await
        .expect("transfers");
    assert_eq!(transfers.len(), 1, "one transfer: {transfers:?}");
    assert_eq!(transfers[0].amount, billing::Micros::new(25_000_000));

    let (status, body) = app.get("/api/billing/credits", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["remaining"], json!(25));
    assert_eq!(body["data"]["totalTopUp"], json!(25));
    assert_eq!(body["data"]["userId"], json!("user-five"));
    let (_, body) = app.get("/credits/balance", &token).await;
    assert_eq!(body["data"]["balance"], json!(2500));

    let order = entities::orders::Entity::find_by_id(order.id).one(&app.db.conn).await.expect("q").expect("order");
    assert_eq!(order.status, OrderStatus::Completed);
    assert_eq!(entities::payments::Entity::find().count(&app.db.conn).await.expect("count"), 1);
    let events = entities::stripe_events::Entity::find().all(&app.db.conn).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, StripeEventStatus::Processed);
    let event_jobs = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(entities::JobQueue::StripeEvent))
        .count(&app.db.conn)
        .await
        .expect("count");
    assert_eq!(event_jobs, 1, "one job for one event");
    assert!(app.dead_jobs().await.is_empty());
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_event_five_times_credits_once_postgres() {
    five_deliveries_three_at_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_event_five_times_credits_once_sqlite() {
    five_deliveries_three_at_once(Backend::Sqlite).await;
}

/// Two different events for the same paid session (completed, then the async success
/// Stripe sends for delayed methods) still credit once: the transfer is keyed by order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_events_for_one_order_credit_once() {
    let app = TestApp::spawn().await;
    let account = billing::accounts::ensure(&app.db.conn, "user-two-events").await.expect("account");
    let order = billing::orders::create_topup(
        &app.db.conn,
        account.id,
        Micros::from_usd(10).expect("amount"),
        PayMethod::Stripe,
    )
    .await
    .expect("order");
    let first = checkout_session_completed("evt_first", order.id, 1000);
    let mut second = first.clone();
    second["id"] = json!("evt_second");
    second["type"] = json!("checkout.session.async_payment_succeeded");
    assert_eq!(app.deliver(&first).await.status(), 200);
    assert_eq!(app.deliver(&second).await.status(), 200);
    app.wait_drained(Duration::from_secs(30)).await;
    let balance = billing::ledger::customer_balance(&app.db.conn, account.id).await.expect("balance");
    assert_eq!(balance, Micros::from_usd(10).expect("amount"));
    app.assert_ledger_invariants().await;
}

/// A backlog of paid top-ups is credited in batches (`billing::stripe::topups`): 300
/// orders over 5 accounts, each event delivered twice in shuffled order while no worker
/// runs, then one worker. Every order credits once, each account gets exactly what its
/// orders paid, with one payment per order; and the transfers were posted by far fewer
/// transactions than there are orders (a batch stamps its transfers with one time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_paid_topups_is_credited_in_batches_and_once() {
    use rand::seq::SliceRandom;
    let mut app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let mut accounts = Vec::new();
    for i in 0..5 {
        accounts.push(app.account_id(&format!("batched-{i}")).await);
    }
    let mut events = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        for (j, order) in app.seed_topup_orders(*account, 60, 1_000_000 * (i as i64 + 1)).await.into_iter().enumerate()
        {
            let event = checkout_session_completed(&format!("evt_batched_{i}_{j}"), order, 100 * (i as i64 + 1));
            events.push(event.clone());
            events.push(event);
        }
    }
    events.shuffle(&mut rand::rng());
    for event in &events {
        assert_eq!(app.deliver(event).await.status(), 200);
    }
    app.start_worker(&[]).await;
    app.wait_drained(Duration::from_secs(60)).await;

    for (i, account) in accounts.iter().enumerate() {
        let want = Micros::new(60 * 1_000_000 * (i as i64 + 1));
        assert_eq!(app.balance(*account).await, want, "account {i}");
    }
    let payments = entities::payments::Entity::find().count(&app.db.conn).await.expect("payments");
    assert_eq!(payments, 300);
    let completed = entities::orders::Entity::find()
        .filter(entities::orders::Column::Status.eq(OrderStatus::Completed))
        .count(&app.db.conn)
        .await
        .expect("orders");
    assert_eq!(completed, 300);
    let transfers = entities::ledger_transfers::Entity::find()
        .filter(entities::ledger_transfers::Column::Kind.eq(entities::TransferKind::Topup))
        .all(&app.db.conn)
        .await
        .expect("transfers");
    assert_eq!(transfers.len(), 300);
    let commits: std::collections::HashSet<_> = transfers.iter().map(|t| t.created_at).collect();
    assert!(commits.len() <= 30, "300 top-ups posted by {} transactions", commits.len());
    let unprocessed = entities::stripe_events::Entity::find()
        .filter(entities::stripe_events::Column::Status.ne(StripeEventStatus::Processed))
        .count(&app.db.conn)
        .await
        .expect("inbox");
    assert_eq!(unprocessed, 0);
    // The events a batch took along end their jobs with it: those jobs are done without
    // ever being claimed (no attempt spent), and only a few of the 300 ran at all.
    let jobs = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::Queue.eq(entities::JobQueue::StripeEvent))
        .all(&app.db.conn)
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 300);
    assert!(jobs.iter().all(|j| j.status == entities::JobStatus::Done), "every job done");
    let ran = jobs.iter().filter(|j| j.attempts > 0).count();
    assert!(ran <= 100, "{ran} of 300 jobs were run: a batch's events should end their jobs");
    app.assert_ledger_invariants().await;
}

/// Which events a top-up batch takes, straight against the database: those whose jobs
/// wait in the outbox, whose jobs it then ends (never claimed: no attempt spent), and the
/// events of runs it was handed (`adopted`), which it applies and names; never the event
/// of a job a worker claimed and did not hand over. Every order is credited once.
async fn a_batch_takes_waiting_and_adopted_events_not_claimed_ones(db: tollgate_tests::db::TestDb) {
    use billing::jobs::{Job, JobQueue, QueuePolicy, contracts::StripeEvent, outbox};
    use billing::stripe::inbox::{EventHead, Incoming};
    use billing::stripe::topups::{self, Own};
    let mut orders = Vec::new();
    for i in 0..5 {
        let account = billing::accounts::ensure(&db.conn, &format!("batch-pick-{i}")).await.expect("account");
        orders.push((billing::OrderId::generate(), account.id));
    }
    tollgate_tests::db::insert_topup_orders(&db.conn, &orders, 7_000_000).await.expect("orders");
    let items: Vec<Incoming> = orders
        .iter()
        .enumerate()
        .map(|(i, (order, _))| {
            let raw = checkout_session_completed(&format!("evt_pick_{i}"), *order, 700).to_string();
            Incoming { head: EventHead::parse(raw.as_bytes()).expect("head"), raw }
        })
        .collect();
    let policy = QueuePolicy::default_for(JobQueue::StripeEvent);
    billing::stripe::inbox::store_many(&db.conn, &items, &policy).await.expect("store");
    // A worker claims the first three jobs, in due order: 0 leads a batch, 1 is handed to
    // it, 2 is kept back; 3 and 4 wait in the outbox.
    let claimed =
        outbox::claim_batch(&db.conn, JobQueue::StripeEvent, 3, Duration::from_secs(60)).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    let txn = billing::db::begin_write(&db.conn).await.expect("begin");
    let own = topups::apply_batch(&txn, "evt_pick_0", &["evt_pick_1".to_owned()]).await.expect("batch");
    txn.commit().await.expect("commit");
    let Own::Applied { events, credited, adopted } = own else { panic!("not applied: {own:?}") };
    assert_eq!((events, credited), (4, 4), "own, adopted and the two waiting");
    assert_eq!(adopted.into_iter().collect::<Vec<_>>(), vec!["evt_pick_1".to_owned()]);

    let event = |i: usize| format!("evt_pick_{i}");
    let status = |id: String| {
        let conn = db.conn.clone();
        async move { entities::stripe_events::Entity::find_by_id(id).one(&conn).await.expect("event").expect("row").status }
    };
    for i in [0, 1, 3, 4] {
        assert_eq!(status(event(i)).await, StripeEventStatus::Processed, "event {i}");
    }
    assert_eq!(status(event(2)).await, StripeEventStatus::Received, "a claimed job's event is its run's");
    let job = |i: usize| {
        let conn = db.conn.clone();
        let key = StripeEvent { event_id: format!("evt_pick_{i}") }.key();
        async move {
            entities::jobs::Entity::find()
                .filter(entities::jobs::Column::JobKey.eq(key))
                .one(&conn)
                .await
                .expect("job")
                .expect("row")
        }
    };
    for i in [3, 4] {
        let j = job(i).await;
        assert_eq!((j.status, j.attempts), (entities::JobStatus::Done, 0), "job {i} ended by the batch");
    }
    for i in [0, 1, 2] {
        assert_eq!(job(i).await.status, entities::JobStatus::Running, "job {i} is its run's to end");
    }
    // The kept-back run applies its own event; the adopted one finds its event applied.
    let txn = billing::db::begin_write(&db.conn).await.expect("begin");
    let own = topups::apply_batch(&txn, "evt_pick_2", &[]).await.expect("batch");
    txn.commit().await.expect("commit");
    assert!(matches!(own, Own::Applied { events: 1, credited: 1, .. }), "{own:?}");
    let txn = billing::db::begin_write(&db.conn).await.expect("begin");
    assert_eq!(topups::apply_batch(&txn, "evt_pick_1", &[]).await.expect("batch"), Own::AlreadyDone);
    drop(txn);
    for (_, account) in &orders {
        let balance = billing::ledger::customer_balance(&db.conn, *account).await.expect("balance");
        assert_eq!(balance, Micros::new(7_000_000), "each order credited once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_waiting_and_adopted_events_not_claimed_ones_postgres() {
    a_batch_takes_waiting_and_adopted_events_not_claimed_ones(tollgate_tests::db::TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_waiting_and_adopted_events_not_claimed_ones_sqlite() {
    a_batch_takes_waiting_and_adopted_events_not_claimed_ones(tollgate_tests::db::TestDb::sqlite().await).await;
}
