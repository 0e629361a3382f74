//! Regression tests of the money-safety and security audit: each shows an attack failing
//! against the real binaries.

use serde_json::json;
use std::time::Duration;
use tollgate_tests::app::sign_jwt;
use tollgate_tests::{TestApp, TestOptions};

/// Runs a binary to its exit with exactly `env`; its exit code and standard error.
async fn run_to_exit(bin: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(tollgate_tests::bin_dir().join(bin))
        .env_clear()
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("exits at once")
        .expect("wait");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Without `JWT_SECRET` and `STRIPE_WEBHOOK_SECRET`, outside development, neither the api
/// nor the worker starts: they exit naming what is missing rather than run on the secrets
/// published in the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_process_starts_on_published_default_secrets() {
    let db = tollgate_tests::db::TestDb::postgres().await;
    for bin in ["api", "worker"] {
        let (code, stderr) = run_to_exit(bin, &[("DATABASE_URL", &db.url), ("BIND_ADDR", "127.0.0.1:0")]).await;
        assert_eq!(code, Some(2), "{bin} must refuse to start: {stderr}");
        assert!(stderr.contains("JWT_SECRET: required"), "{bin}: {stderr}");
        assert!(stderr.contains("STRIPE_WEBHOOK_SECRET: required"), "{bin}: {stderr}");
    }
    // The published development values are refused even when set explicitly.
    let (code, stderr) = run_to_exit(
        "api",
        &[
            ("DATABASE_URL", &db.url),
            ("JWT_SECRET", "dev-only-insecure-jwt-secret-change-me-000000"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_dev_only_insecure"),
        ],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("published development value"), "{stderr}");
}

/// A JWT without `exp` would be valid forever once leaked: refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_without_expiry_is_refused() {
    let app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let forever = sign_jwt(&json!({"sub": "no-exp", "scope": "billing:read billing:write admin"}));
    assert_eq!(app.get("/api/billing/status", &forever).await.0, 401);
    assert_eq!(app.get("/admin/queues", &forever).await.0, 401);
    let expired = sign_jwt(&json!({"sub": "old", "exp": chrono::Utc::now().timestamp() - 3600}));
    assert_eq!(app.get("/api/billing/status", &expired).await.0, 401);
    assert_eq!(app.get("/api/billing/status", &app.jwt("fresh", "billing:read")).await.0, 200);
}

/// With `JWT_ISSUER` and `JWT_AUDIENCE` set, a token of another issuer or audience is
/// refused even when signed with the right key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_issuer_and_audience_are_enforced_when_configured() {
    let env = vec![
        ("JWT_ISSUER".to_owned(), "https://id.example.com".to_owned()),
        ("JWT_AUDIENCE".to_owned(), "tollgate".to_owned()),
    ];
    let app = TestApp::with(TestOptions { worker: false, env, ..Default::default() }).await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let good = sign_jwt(&json!({"sub": "u", "exp": exp, "iss": "https://id.example.com", "aud": "tollgate"}));
    assert_eq!(app.get("/api/billing/status", &good).await.0, 200);
    for claims in [
        json!({"sub": "u", "exp": exp}),
        json!({"sub": "u", "exp": exp, "iss": "https://evil.example.com", "aud": "tollgate"}),
        json!({"sub": "u", "exp": exp, "iss": "https://id.example.com", "aud": "another-app"}),
    ] {
        assert_eq!(app.get("/api/billing/status", &sign_jwt(&claims)).await.0, 401, "{claims}");
    }
}

/// `/metrics` tells revenue and outstanding credits: not public. Without `METRICS_TOKEN`
/// the api does not serve it on its public address at all; with one, only its bearer reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_public() {
    let app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let res = app.http.get(format!("{}/metrics", app.base_url)).send().await.expect("scrape");
    assert_eq!(res.status(), 404);
    let admin = app.jwt("ops", "admin");
    assert_eq!(app.get("/metrics", &admin).await.0, 404, "not even an admin JWT reads it on the public address");

    let token = "metrics-token-0123456789abcdef";
    let env = vec![("METRICS_TOKEN".to_owned(), token.to_owned())];
    let app = TestApp::with(TestOptions { worker: false, env, ..Default::default() }).await;
    let url = format!("{}/metrics", app.base_url);
    assert_eq!(app.http.get(&url).send().await.expect("scrape").status(), 401);
    assert_eq!(
        app.http.get(&url).bearer_auth("wrong-token-0123456789abcdef").send().await.expect("scrape").status(),
        401
    );
    let res = app.http.get(&url).bearer_auth(token).send().await.expect("scrape");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("text").contains("tollgate_dead_jobs 0"));
}

/// A key created under an `Idempotency-Key` is replayed to the client that holds that key,
/// but the stored record holds neither the API key nor the `Idempotency-Key` in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_records_never_hold_a_secret_in_clear() {
    use sea_orm::EntityTrait;
    let app = TestApp::with(TestOptions { worker: false, ..Default::default() }).await;
    let token = app.jwt("idem-secret", "billing:read billing:write");
    let create = || {
        app.http
            .post(format!("{}/api/keys/credit", app.base_url))
            .bearer_auth(&token)
            .header("idempotency-key", "create-credit-key-1")
            .json(&json!({"name": "ci"}))
            .send()
    };
    let first = create().await.expect("create");
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.expect("json");
    let key = first["data"]["key"].as_str().expect("the key is shown").to_owned();
    assert!(key.starts_with("tg_"));

    let rows = entities::idempotency_keys::Entity::find().all(&app.db.conn).await.expect("records");
    assert_eq!(rows.len(), 1);
    let stored = format!("{:?}", rows[0]);
    assert!(!stored.contains(&key), "the API key is stored in clear: {stored}");
    assert!(!stored.contains(&key[key.len() - 16..]), "part of the API key is stored in clear");
    assert!(!stored.contains("create-credit-key-1"), "the Idempotency-Key is stored in clear");

    let again = create().await.expect("replay");
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["data"]["key"], json!(key), "the client holding the Idempotency-Key gets its answer back");
    let keys = entities::api_keys::Entity::find().all(&app.db.conn).await.expect("keys");
    assert_eq!(keys.len(), 1, "the replay created nothing");
}

/// Records expire after 24 hours and the retention pass deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_idempotency_records_are_swept() {
    use sea_orm::{ConnectionTrait, EntityTrait};
    let env = vec![("RETENTION_INTERVAL_MS".to_owned(), "500".to_owned())];
    let app = TestApp::with(TestOptions { env, ..Default::default() }).await;
    let token = app.jwt("idem-sweep", "billing:read billing:write");
    for i in 0..3 {
        let res = app
            .http
            .post(format!("{}/api/keys/credit", app.base_url))
            .bearer_auth(&token)
            .header("idempotency-key", format!("sweep-{i}"))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), 201);
    }
    // Two of them are a day old.
    app.db
        .conn
        .execute_unprepared(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 minute' \
             WHERE id IN (SELECT id FROM idempotency_keys ORDER BY created_at LIMIT 2)",
        )
        .await
        .expect("age records");
    tollgate_tests::eventually(Duration::from_secs(20), "expired records swept", || async {
        let n = entities::idempotency_keys::Entity::find().all(&app.db.conn).await.ok()?.len();
        (n == 1).then_some(())
    })
    .await;
}

/// What is charged is what is credited: a card top-up finer than a cent (which Stripe
/// would charge rounded down) is refused and creates no order; USDC keeps its micro-dollars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_cent_card_topup_is_refused() {
    use sea_orm::EntityTrait;
    let (app, stripe) = tollgate_tests::fake_stripe::app_with_fake_stripe().await;
    let token = app.jwt("sub-cent", "billing:read billing:write");
    for method in ["stripe", "stripe_direct"] {
        for amount in [json!(10.009999), json!("10.001")] {
            let (status, body) =
                app.post("/api/billing/topup", &token, &json!({"amount": amount, "method": method})).await;
            assert_eq!(status, 400, "{method} {amount}: {body}");
            assert!(body.to_string().contains("whole number of cents"), "{body}");
        }
    }
    assert!(entities::orders::Entity::find().all(&app.db.conn).await.expect("orders").is_empty());
    assert!(stripe.sessions().is_empty(), "nothing reached Stripe");
    let (status, body) = app.post("/api/billing/topup", &token, &json!({"amount": 10.01, "method": "stripe"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stripe.sessions()[0]["amount_total"], json!(1001));
}

/// The routes anyone may call are rate limited per client, in the route's envelope; the
/// probes are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_routes_are_rate_limited_per_client() {
    let env = vec![
        ("PUBLIC_RATE_PER_SECOND".to_owned(), "5".to_owned()),
        ("WEBHOOK_RATE_PER_SECOND".to_owned(), "5".to_owned()),
    ];
    let app = TestApp::with(TestOptions { worker: false, env, ..Default::default() }).await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let res = app.http.get(format!("{}/plans", app.base_url)).send().await.expect("plans");
        statuses.push(res.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "a burst of twice the rate passes: {statuses:?}");
    assert!(statuses.contains(&429), "then the client is slowed down: {statuses:?}");
    let res = app.http.get(format!("{}/subscription/plans", app.base_url)).send().await.expect("plans");
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["success"], json!(false), "the credits API's envelope: {body}");
    let hooks: Vec<u16> = futures::future::join_all((0..30).map(|_| app.post_webhook(b"{}".to_vec(), None)))
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(hooks.contains(&429), "{hooks:?}");
    assert!(hooks.contains(&400), "a bad signature is still a 400 within the rate: {hooks:?}");
    for _ in 0..30 {
        let res = app.http.get(format!("{}/health", app.base_url)).send().await.expect("health");
        assert_eq!(res.status(), 200, "probes are never limited");
    }
}
