//! USDC on Base, verified on a real local chain (anvil, chain id 8453, a real ERC-20).

use billing::Micros;
use entities::UsdcTransferStatus;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::time::Duration;
use tollgate_tests::chain::{TestChain, USD};
use tollgate_tests::{TestApp, TestOptions, eventually};

const NO_SCAN: (&str, &str) = ("CHAIN_SCAN_INTERVAL_MS", "3600000");

async fn setup(confirmations: u64, extra: &[(&str, &str)]) -> (TestApp, TestChain) {
    let chain = TestChain::start().await;
    let mut env = chain.env(confirmations);
    let mut extra: Vec<(&str, &str)> = extra.to_vec();
    if !extra.iter().any(|(k, _)| *k == "CHAIN_SCAN_INTERVAL_MS") {
        extra.push(NO_SCAN);
    }
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    (app, chain)
}

async fn claims(app: &TestApp) -> u64 {
    entities::usdc_transfers::Entity::find()
        .filter(entities::usdc_transfers::Column::Status.eq(UsdcTransferStatus::Credited))
        .count(&app.db.conn)
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_checkout_and_verify_activates_thirty_days() {
    let (app, chain) = setup(1, &[]).await;
    let token = app.jwt("usdc-plan", "billing:read billing:write");
    let (status, addr) = app.get("/api/billing/payment-address", &token).await;
    assert_eq!(status, 200);
    assert_eq!(addr["data"], json!({"address": format!("{:#x}", chain.payment), "chain": "base"}));

    let (status, body) = app.post("/api/billing/checkout", &token, &json!({"planSlug": "pro", "method": "usdc"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["chain"], json!("base"));
    assert_eq!(body["planSlug"], json!("pro"));
    assert_eq!(body["address"], json!(format!("{:#x}", chain.payment)));
    let amount = Micros::parse_usd(body["amount"].as_str().expect("amount text")).expect("amount");
    assert!(amount >= Micros::from_usd(60).expect("60") && amount < Micros::from_usd(61).expect("61"), "{amount}");

    let tx = chain.pay_usdc(chain.payers[0], amount.get() as u64).await;
    let (status, body) =
        app.post("/api/billing/verify-payment", &token, &json!({"txHash": tx, "planSlug": "pro"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["activated"], json!(true));
    let expires: chrono::DateTime<chrono::Utc> = serde_json::from_value(body["expiresAt"].clone()).expect("date");
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "30 days: {days} h");

    let subs = entities::subscriptions::Entity::find().all(&app.db.conn).await.expect("subs");
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].status, entities::SubscriptionStatus::Active);
    let order = entities::orders::Entity::find().one(&app.db.conn).await.expect("q").expect("order");
    assert_eq!(order.status, entities::OrderStatus::Completed, "the checkout's order completes");
    assert_eq!(claims(&app).await, 1);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topup_credits_what_the_transfer_carried_and_only_once() {
    let (app, chain) = setup(1, &[]).await;
    let token = app.jwt("usdc-topup", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 50, "method": "usdc"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["chain"], json!("base"));

    // Sent 52.5; declared 50: credits the 52.5 carried.
    let tx = chain.pay_usdc(chain.payers[1], 52_500_000).await;
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 50})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["credited"], json!(52.5));
    assert_eq!(body["data"]["creditBalance"], json!(52.5));

    // The same hash again from the same account: the first result, nothing more.
    let (status, again) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 50})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["credited"], json!(52.5));
    let (_, credits) = app.get("/api/billing/credits", &token).await;
    assert_eq!(credits["data"]["remaining"], json!(52.5));
    assert_eq!(credits["data"]["totalTopUp"], json!(52.5));

    // The same hash from another account: 409, nothing credited to it.
    let other = app.jwt("usdc-thief", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/verify-topup", &other, &json!({"txHash": tx, "amount": 50})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("already_claimed"));
    assert_eq!(app.balance(app.account_id("usdc-thief").await).await, Micros::ZERO);
    assert_eq!(claims(&app).await, 1);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_that_do_not_pay_us_are_refused_and_stay_unclaimed() {
    let (app, chain) = setup(1, &[]).await;
    let token = app.jwt("usdc-refused", "billing:read billing:write");
    let stranger = chain.payers[4];
    let cases = [
        ("wrong recipient", chain.pay(chain.usdc, chain.payers[0], stranger, 20 * USD).await, "no_usdc_transfer"),
        (
            "another ERC-20",
            chain.pay(chain.other_token, chain.payers[0], chain.payment, 20 * USD).await,
            "no_usdc_transfer",
        ),
        ("reverted", chain.reverted_payment(chain.payers[0]).await, "transaction_reverted"),
    ];
    for (case, tx, code) in cases {
        let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 20})).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(body["error"]["code"], json!(code), "{case}: {body}");
    }

    // Too small for the plan; then a declared top-up above what was sent.
    let tx = chain.pay_usdc(chain.payers[0], 30 * USD).await;
    let (status, body) =
        app.post("/api/billing/verify-payment", &token, &json!({"txHash": tx, "planSlug": "pro"})).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("amount_too_small")), "{body}");
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 31})).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("amount_mismatch")), "{body}");
    assert_eq!(claims(&app).await, 0, "refused transfers stay unclaimed");

    // Unclaimed, so an honest declaration still works.
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 30})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.balance(app.account_id("usdc-refused").await).await, Micros::from_usd(30).expect("30"));

    // Malformed input is a 400 before any job exists.
    let verify_jobs = || {
        entities::jobs::Entity::find()
            .filter(entities::jobs::Column::Queue.eq(entities::JobQueue::UsdcVerify))
            .count(&app.db.conn)
    };
    let jobs_before = verify_jobs().await.expect("count");
    for body in [
        json!({"txHash": "0x1234", "amount": 20}),
        json!({"txHash": TestChain::random_hash(), "amount": "ten"}),
        json!({"txHash": TestChain::random_hash(), "amount": 5}),
    ] {
        let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["success"], json!(false));
    }
    assert_eq!(verify_jobs().await.expect("count"), jobs_before);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfirmed_is_pending_until_enough_blocks() {
    let (app, chain) = setup(3, &[]).await;
    let token = app.jwt("usdc-confirm", "billing:read billing:write");
    let tx = chain.pay_usdc(chain.payers[2], 25 * USD).await;
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 25})).await;
    assert_eq!(status, 202, "one confirmation of three: {body}");
    assert_eq!(body["data"]["status"], json!("pending"));
    assert_eq!(app.balance(app.account_id("usdc-confirm").await).await, Micros::ZERO);

    chain.mine(2).await;
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 25})).await;
    assert_eq!(status, 200, "three confirmations: {body}");
    assert_eq!(body["data"]["credited"], json!(25));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_wallet_must_be_the_sender() {
    let (app, chain) = setup(1, &[]).await;
    let token = app.jwt("usdc-bound", "billing:read billing:write");
    let (status, body) = chain.prove_wallet(&app, &token, chain.payers[3], chain.payers[3]).await;
    assert_eq!(status, 200, "{body}");
    // Someone else's transfer, seen on chain: refused and left unclaimed.
    let watched = chain.pay_usdc(chain.payers[0], 40 * USD).await;
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": watched, "amount": 40})).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("wrong_sender")), "{body}");
    assert_eq!(claims(&app).await, 0);
    let own = chain.pay_usdc(chain.payers[3], 40 * USD).await;
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": own, "amount": 40})).await;
    assert_eq!(status, 200, "{body}");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_that_does_not_exist_is_not_found_after_the_deadline() {
    let (app, _chain) = setup(1, &[("USDC_PENDING_DEADLINE_MS", "1500")]).await;
    let token = app.jwt("usdc-ghost", "billing:read billing:write");
    let ghost = TestChain::random_hash();
    let body = json!({"txHash": ghost, "amount": 10});
    let (status, _) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert!(status == 202 || status == 400, "{status}");
    let final_status = eventually(Duration::from_secs(30), "the not-found answer", || async {
        let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
        (status != 202).then_some((status, res))
    })
    .await;
    assert_eq!(final_status.0, 400, "{}", final_status.1);
    assert_eq!(final_status.1["error"]["code"], json!("transaction_not_found"));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_down_then_back_is_retried() {
    let chain = TestChain::start().await;
    let proxy = tollgate_tests::proxy::Proxy::start(format!("127.0.0.1:{}", chain.port)).await;
    let mut env = chain.env(1);
    env.retain(|(k, _)| k != "CHAIN_RPC_URL");
    env.push(("CHAIN_RPC_URL".into(), format!("http://127.0.0.1:{}", proxy.port)));
    env.push((NO_SCAN.0.into(), NO_SCAN.1.into()));
    env.push(("CHECKOUT_WAIT_MS".into(), "1000".into()));
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    let token = app.jwt("usdc-rpc", "billing:read billing:write");
    let tx = chain.pay_usdc(chain.payers[0], 15 * USD).await;

    proxy.down();
    let body = json!({"txHash": tx, "amount": 15});
    let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert_eq!(status, 202, "RPC down: still pending, not failed: {res}");
    proxy.up();
    let (status, res) = eventually(Duration::from_secs(30), "the verification after the RPC is back", || async {
        let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
        (status != 202).then_some((status, res))
    })
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(app.balance(app.account_id("usdc-rpc").await).await, Micros::from_usd(15).expect("15"));
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_credits_payments_nobody_verified_and_lists_the_rest() {
    let (app, chain) = setup(1, &[("CHAIN_SCAN_INTERVAL_MS", "300")]).await;
    let token = app.jwt("usdc-scan", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 20, "method": "usdc"})).await;
    assert_eq!(status, 200, "{body}");
    let amount = Micros::parse_usd(body["data"]["amount"].as_str().expect("amount")).expect("amount");
    assert_ne!(amount, Micros::from_usd(20).expect("20"), "a wallet-less account gets a unique amount");
    chain.pay_usdc(chain.payers[1], amount.get() as u64).await;
    // A transfer no order expects.
    chain.pay_usdc(chain.payers[2], 7_777_777).await;

    let account = app.account_id("usdc-scan").await;
    eventually(Duration::from_secs(30), "the scan to credit the top-up", || async {
        (app.balance(account).await == amount).then_some(())
    })
    .await;
    let admin = app.jwt("ops", "admin");
    let unmatched = eventually(Duration::from_secs(30), "the unmatched transfer to be listed", || async {
        let (status, body) = app.get("/admin/usdc/unmatched", &admin).await;
        (status == 200 && body["data"].as_array().is_some_and(|a| !a.is_empty())).then_some(body)
    })
    .await;
    assert_eq!(unmatched["data"][0]["amount"], json!(7.777777));
    assert_eq!(app.get("/admin/usdc/unmatched", &token).await.0, 403, "admins only");
    tokio::time::sleep(Duration::from_secs(1)).await; // more scan ticks change nothing
    assert_eq!(app.balance(account).await, amount);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_restarted_mid_range_counts_each_transfer_once() {
    let chain = TestChain::start().await;
    let mut env = chain.env(1);
    env.push(("CHAIN_SCAN_INTERVAL_MS".into(), "300".into()));
    env.push(("CHAIN_SCAN_RANGE".into(), "1".into()));
    let mut app = TestApp::with(TestOptions { env, worker: false, ..Default::default() }).await;
    let token = app.jwt("usdc-restart", "billing:read billing:write");
    let mut expected = Micros::ZERO;
    for (i, payer) in chain.payers[..3].iter().enumerate() {
        let (_, body) = app.post("/api/billing/topup", &token, &json!({"amount": 10 + i, "method": "usdc"})).await;
        let amount = Micros::parse_usd(body["data"]["amount"].as_str().expect("amount")).expect("amount");
        chain.pay_usdc(*payer, amount.get() as u64).await;
        chain.noise().await;
        expected = expected.checked_add(amount).expect("sum");
    }
    // One block per range and a pause after each: kill the worker mid-scan.
    let slow = app.start_worker(&[("TOLLGATE_FAILPOINT_SCAN_STALL_MS", "300")]).await;
    let cursor_id = format!("8453:{:#x}:{:#x}", chain.usdc, chain.payment);
    let db = &app.db.conn;
    eventually(Duration::from_secs(30), "the scan to be part-way", || async {
        let c = entities::chain_cursors::Entity::find_by_id(cursor_id.clone()).one(db).await.ok()??;
        (c.block_number >= 3).then_some(())
    })
    .await;
    app.kill_worker(slow).await;
    let head = chain.provider_head().await;
    let cursor = entities::chain_cursors::Entity::find_by_id(cursor_id.clone())
        .one(&app.db.conn)
        .await
        .expect("q")
        .expect("cursor");
    assert!((cursor.block_number as u64) < head, "stopped mid-range: cursor {} head {head}", cursor.block_number);

    app.start_worker(&[]).await;
    let account = app.account_id("usdc-restart").await;
    eventually(Duration::from_secs(30), "all three top-ups credited", || async {
        (app.balance(account).await == expected).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.balance(account).await, expected, "each transfer counted once");
    assert_eq!(claims(&app).await, 3);
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_lost_in_a_reorg_is_never_credited() {
    let (app, chain) = setup(3, &[("USDC_PENDING_DEADLINE_MS", "10000")]).await;
    let token = app.jwt("usdc-reorg", "billing:read billing:write");
    let before = chain.snapshot().await;
    let tx = chain.pay_usdc(chain.payers[0], 12 * USD).await;
    let body = json!({"txHash": tx, "amount": 12});
    let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert_eq!(status, 202, "not deep enough yet: {res}");

    // The block holding the transfer is replaced by empty ones.
    chain.revert_to(&before).await;
    chain.mine(5).await;
    let (status, res) = eventually(Duration::from_secs(30), "the verification to give up", || async {
        let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
        (status != 202).then_some((status, res))
    })
    .await;
    assert_eq!((status, res["error"]["code"].clone()), (400, json!("transaction_not_found")), "{res}");
    assert_eq!(app.balance(app.account_id("usdc-reorg").await).await, Micros::ZERO);
    assert_eq!(claims(&app).await, 0);
    app.assert_ledger_invariants().await;
}

/// Dust cannot stop the scan: 500 one-unit transfers to the payment address are recorded
/// once as dust and listed for admins, and a real payment after them is matched at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dust_cannot_keep_a_payment_from_being_matched() {
    let (app, chain) = setup(1, &[("CHAIN_SCAN_INTERVAL_MS", "300")]).await;
    chain.pay_usdc_many(chain.payers[4], 1, 500).await;
    let admin = app.jwt("ops", "admin");
    eventually(Duration::from_secs(60), "the dust recorded and listed", || async {
        let (_, body) = app.get("/admin/usdc/unmatched", &admin).await;
        let list = body["data"].as_array()?.clone();
        (list.len() == 500 && list.iter().all(|t| t["dust"] == json!(true))).then_some(())
    })
    .await;
    let token = app.jwt("usdc-after-dust", "billing:read billing:write");
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 20, "method": "usdc"})).await;
    assert_eq!(status, 200, "{body}");
    let amount = Micros::parse_usd(body["data"]["amount"].as_str().expect("amount")).expect("amount");
    chain.pay_usdc(chain.payers[1], amount.get() as u64).await;
    let account = app.account_id("usdc-after-dust").await;
    eventually(Duration::from_secs(20), "the payment matched despite the dust", || async {
        (app.balance(account).await == amount).then_some(())
    })
    .await;
    app.assert_ledger_invariants().await;
}

/// A payout service pays two invoices in one transaction: each transfer verifies on its
/// own (by `logIndex`, or by amount), and neither is reported as a payment without credits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_payout_verifies_each_transfer_and_reconciles() {
    let (app, chain) = setup(1, &[]).await;
    let token = app.jwt("usdc-batch", "billing:read billing:write");
    let tx = chain.pay_usdc_batch(chain.payers[0], &[30 * USD, 12 * USD]).await;
    // By amount: the 12 USD transfer, though it is the second log.
    let (status, body) = app.post("/api/billing/verify-topup", &token, &json!({"txHash": tx, "amount": 12})).await;
    assert_eq!((status, body["data"]["credited"].clone()), (200, json!(12)), "{body}");
    // By log index: the other one.
    let receipt_logs = {
        use alloy::providers::Provider;
        let hash: alloy::primitives::B256 = tx.parse().expect("hash");
        chain.provider.get_transaction_receipt(hash).await.expect("rpc").expect("receipt").inner.logs().to_vec()
    };
    let first = receipt_logs[0].log_index.expect("log index");
    let body = json!({"txHash": tx, "amount": 30, "logIndex": first});
    let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert_eq!((status, res["data"]["credited"].clone()), (200, json!(30)), "{res}");
    assert_eq!(app.balance(app.account_id("usdc-batch").await).await, Micros::from_usd(42).expect("42"));
    assert_eq!(claims(&app).await, 2);

    let admin = app.jwt("ops", "admin");
    let (status, run) = app.post("/admin/reconciliation/run", &admin, &json!({})).await;
    assert_eq!(status, 200, "{run}");
    app.wait_drained(Duration::from_secs(20)).await;
    let (_, report) = app.get("/admin/reconciliation", &admin).await;
    assert_eq!(report["data"]["total"], json!(0), "USDC payments pair with their credits: {report}");
    app.assert_ledger_invariants().await;
}

/// The RPC URL carries the provider's key: an outage never writes it where operators and
/// clients read, and a verification that gave up during the outage can be asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_outage_leaks_no_rpc_key_and_a_dead_verification_can_be_asked_again() {
    let chain = TestChain::start().await;
    let proxy = tollgate_tests::proxy::Proxy::start(format!("127.0.0.1:{}", chain.port)).await;
    let mut env = chain.env(1);
    env.retain(|(k, _)| k != "CHAIN_RPC_URL");
    // Providers put their key in the path (anvil serves only `/`) or the query.
    env.push(("CHAIN_RPC_URL".into(), format!("http://127.0.0.1:{}/?key=SECRETKEY123", proxy.port)));
    env.push((NO_SCAN.0.into(), NO_SCAN.1.into()));
    env.push(("CHECKOUT_WAIT_MS".into(), "1000".into()));
    env.push(("QUEUE_USDC_VERIFY_MAX_ATTEMPTS".into(), "2".into()));
    env.push(("VERIFY_RATE_PER_MINUTE".into(), "8".into()));
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    let token = app.jwt("usdc-outage", "billing:read billing:write");
    let tx = chain.pay_usdc(chain.payers[0], 15 * USD).await;
    proxy.down();
    let body = json!({"txHash": tx, "amount": 15});
    let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert!(status == 202 || status == 503, "pending, or given up already: {status} {res}");
    let key = format!("usdc:8453:{tx}:");
    let dead = eventually(Duration::from_secs(40), "the verification to give up", || async {
        let dead = app.dead_jobs().await;
        dead.into_iter().find(|(k, _)| k.starts_with(&key))
    })
    .await;
    let error = dead.1.unwrap_or_default();
    assert!(!error.contains("SECRETKEY123"), "the RPC key leaked into jobs.last_error: {error}");
    assert!(error.contains("chain RPC"), "{error}");
    let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
    assert!(!res.to_string().contains("SECRETKEY123"), "{res}");
    assert!(status == 202 || status == 503, "{status} {res}");

    // The RPC is back: asking again runs the verification again, no admin needed.
    proxy.up();
    let (status, res) = eventually(Duration::from_secs(30), "the verification after the outage", || async {
        let (status, res) = app.post("/api/billing/verify-topup", &token, &body).await;
        (status == 200).then_some((status, res))
    })
    .await;
    assert_eq!((status, res["data"]["credited"].clone()), (200, json!(15)), "{res}");

    // Verification requests are rate limited per account: 17 in a burst touch at most two
    // one-minute windows, so one of them sees more than 8.
    let other = app.jwt("usdc-hammer", "billing:read billing:write");
    let mut limited = false;
    for _ in 0..17 {
        let junk = json!({"txHash": TestChain::random_hash(), "amount": 15});
        let (status, _) = app.post("/api/billing/verify-topup", &other, &junk).await;
        limited |= status == 429;
        if limited {
            break;
        }
    }
    assert!(limited, "more than VERIFY_RATE_PER_MINUTE requests are refused");
    app.assert_ledger_invariants().await;
}
