//! A wallet is bound to an account only by its own signature over the server's challenge
//! (EIP-4361), and to one account at most; only proven bindings decide whose USDC is whose.
//! On a real local chain (anvil), whose unlocked accounts sign as browser wallets do.

use billing::Micros;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tollgate_tests::chain::{TestChain, USD};
use tollgate_tests::{TestApp, TestOptions, eventually};

async fn setup(scan: bool) -> (TestApp, TestChain) {
    let chain = TestChain::start().await;
    let mut env = chain.env(1);
    env.push(("CHAIN_SCAN_INTERVAL_MS".into(), if scan { "300" } else { "3600000" }.into()));
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    (app, chain)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_wallets_signature_binds_it_and_to_one_account() {
    let (app, chain) = setup(false).await;
    let attacker = app.jwt("wallet-attacker", "billing:read billing:write");
    let victim = app.jwt("wallet-victim", "billing:read billing:write");
    let (victim_wallet, attacker_wallet) = (chain.payers[0], chain.payers[1]);

    // The old way, an address typed in: refused.
    let typed = json!({"walletAddress": format!("{victim_wallet:#x}")});
    let (status, body) = app.call(Method::PUT, "/api/billing/wallet", Some(&attacker), Some(&typed)).await;
    assert_eq!((status, body["success"].clone()), (400, json!(false)), "{body}");

    // A challenge for the victim's address, signed by the attacker's own wallet: refused.
    let (status, body) = chain.prove_wallet(&app, &attacker, victim_wallet, attacker_wallet).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("wrong_signer")), "{body}");

    // A challenge is used once, and only by the account it was issued to.
    let (_, ch) = app
        .post("/api/billing/wallet/challenge", &attacker, &json!({"walletAddress": format!("{victim_wallet:#x}")}))
        .await;
    let message = ch["data"]["message"].as_str().expect("message").to_owned();
    assert!(message.contains("Chain ID: 8453") && message.contains(ch["data"]["nonce"].as_str().expect("nonce")));
    let signed = chain.sign(victim_wallet, &message).await;
    let stolen = json!({"nonce": ch["data"]["nonce"], "signature": signed});
    let (status, body) = app.call(Method::PUT, "/api/billing/wallet", Some(&victim), Some(&stolen)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_challenge")),
        "another account's nonce: {body}"
    );
    let garbage = json!({"nonce": ch["data"]["nonce"], "signature": "0xdeadbeef"});
    let (status, body) = app.call(Method::PUT, "/api/billing/wallet", Some(&attacker), Some(&garbage)).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("invalid_signature")), "{body}");
    let (status, body) = app.call(Method::PUT, "/api/billing/wallet", Some(&attacker), Some(&stolen)).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("invalid_challenge")), "used up: {body}");

    // The victim proves their wallet; nobody else can bind it afterwards, even with a
    // valid signature of its owner.
    let (status, body) = chain.prove_wallet(&app, &victim, victim_wallet, victim_wallet).await;
    assert_eq!((status, body["data"]["walletAddress"].clone()), (200, json!(format!("{victim_wallet:#x}"))), "{body}");
    let (status, body) = chain.prove_wallet(&app, &attacker, victim_wallet, victim_wallet).await;
    assert_eq!((status, body["error"]["code"].clone()), (409, json!("wallet_bound_elsewhere")), "{body}");

    // A typed walletAddress (key-tier checkout) is recorded on the order, never bound.
    let attacker_id = billing::accounts::ensure(&app.db.conn, "wallet-attacker").await.expect("account");
    assert_eq!(attacker_id.wallet_address, None);
}

/// The attack the proof closes: bind a victim's address, keep a pending top-up, and let
/// the chain scan hand over the victim's next payment. The victim's transfer goes to the
/// victim's order; the attacker, unable to bind, gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_scan_credits_a_proven_wallets_payment_to_its_own_account() {
    let (app, chain) = setup(true).await;
    let attacker = app.jwt("scan-attacker", "billing:read billing:write");
    let victim = app.jwt("scan-victim", "billing:read billing:write");
    let wallet = chain.payers[2];
    let typed = json!({"walletAddress": format!("{wallet:#x}")});
    assert_eq!(app.call(Method::PUT, "/api/billing/wallet", Some(&attacker), Some(&typed)).await.0, 400);
    let (status, _) = chain.prove_wallet(&app, &victim, wallet, wallet).await;
    assert_eq!(status, 200);
    for token in [&attacker, &victim] {
        let (status, body) = app.post("/api/billing/topup", token, &json!({"amount": 40, "method": "usdc"})).await;
        assert_eq!(status, 200, "{body}");
    }
    chain.pay_usdc(wallet, 40 * USD).await;
    let victim_id = billing::accounts::ensure(&app.db.conn, "scan-victim").await.expect("account").id;
    let attacker_id = billing::accounts::ensure(&app.db.conn, "scan-attacker").await.expect("account").id;
    eventually(Duration::from_secs(30), "the scan to credit the victim", || async {
        (app.balance(victim_id).await == Micros::from_usd(40).expect("40")).then_some(())
    })
    .await;
    assert_eq!(app.balance(attacker_id).await, Micros::ZERO);
    app.assert_ledger_invariants().await;
}

/// Each challenge is a stored row: an account may ask for a bounded number a minute. The
/// routes are in the OpenAPI document with their bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_are_rate_limited_and_documented() {
    let (app, chain) = setup(false).await;
    let token = app.jwt("challenge-hammer", "billing:read billing:write");
    let body = json!({"walletAddress": format!("{:#x}", chain.payers[3])});
    let mut limited = false;
    // 21 in a burst touch at most two one-minute windows: one sees more than 10.
    for _ in 0..21 {
        let (status, res) = app.post("/api/billing/wallet/challenge", &token, &body).await;
        assert!(status == 200 || status == 429, "{status} {res}");
        limited |= status == 429;
    }
    assert!(limited, "challenges are rate limited per account");
    let doc: serde_json::Value =
        app.http.get(format!("{}/openapi.json", app.base_url)).send().await.expect("doc").json().await.expect("json");
    let put = &doc["paths"]["/api/billing/wallet"]["put"];
    assert!(put["requestBody"].is_object() && put["responses"]["409"].is_object(), "{put}");
    assert!(doc["components"]["schemas"]["WalletRequest"].is_object());
    assert!(doc["paths"]["/api/billing/wallet/challenge"]["post"]["requestBody"].is_object());
}
