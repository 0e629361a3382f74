//! Webhooks out to the customer's app (`/api/v1/webhooks`): deliveries signed as Standard
//! Webhooks says and checked by an independent verifier, retried until the receiver takes
//! them, each business fact told once; the tier's allowance; refused targets; an endpoint
//! disabled after failing throughout its window; redelivery by hand.

use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::fake_stripe::{FakeStripe, app_with_fake_stripe_and};
use tollgate_tests::receiver::{self, Receiver};
use tollgate_tests::{TestApp, eventually};

const WAIT: Duration = Duration::from_secs(30);
/// Private targets allowed (the receivers are on 127.0.0.1); retries every fraction of a second.
const FAST: [(&str, &str); 3] = [
    ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
    ("QUEUE_WEBHOOK_DELIVERY_BACKOFF_BASE_MS", "200"),
    ("QUEUE_WEBHOOK_DELIVERY_BACKOFF_MAX_MS", "500"),
];

async fn create_endpoint(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/api/v1/webhooks", Some(token), Some(&body)).await
}

/// A card top-up of `usd`, paid at the fake Stripe.
async fn top_up(app: &TestApp, stripe: &FakeStripe, token: &str, usd: i64) -> Value {
    let (status, body) = app.post("/api/billing/topup", token, &json!({"amount": usd, "method": "stripe"})).await;
    assert_eq!(status, 200, "{body}");
    stripe.complete_session(body["data"]["sessionId"].as_str().expect("session")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_twice_gets_the_event_once_signed_and_can_have_it_again() {
    let (app, stripe) = app_with_fake_stripe_and(&FAST).await;
    let hook = Receiver::start().await;
    hook.answer(&[500, 500]);
    let token = app.jwt("hooked", "billing:read billing:write");
    app.give_key_tier("hooked", "tier-starter").await;
    let (status, endpoint) = create_endpoint(
        &app,
        &token,
        json!({"url": hook.url, "eventTypes": ["credits.topped_up"], "description": "billing events"}),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().expect("the secret, once").to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = endpoint["id"].as_str().expect("id").to_owned();
    let (_, listed) = app.call(Method::GET, "/api/v1/webhooks", Some(&token), None).await;
    assert_eq!(listed["data"][0]["id"], json!(id));
    assert!(!listed.to_string().contains(&secret[6..]), "never listed with its secret: {listed}");
    let stored = entities::webhook_endpoints::Entity::find().all(&app.db.conn).await.expect("rows");
    assert!(!stored[0].secret_sealed.contains(&secret[6..]), "stored sealed, not in clear");

    let paid = top_up(&app, &stripe, &token, 25).await;
    let delivered = eventually(WAIT, "the third attempt to be taken", || async {
        let got = hook.received();
        (got.len() >= 3).then_some(got)
    })
    .await;
    app.wait_drained(WAIT).await;
    // Stripe tells us twice more: the top-up is one fact, told once.
    assert_eq!(app.deliver(&paid).await.status(), 200);
    app.deliver(&paid).await;
    app.wait_drained(WAIT).await;
    let delivered_after = hook.received();
    assert_eq!(delivered_after.len(), 3, "two failures and one success, nothing more");
    let ids: Vec<&str> = delivered.iter().filter_map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| *i == ids[0] && i.starts_with("msg_")), "one event, retried: {ids:?}");
    for r in &delivered {
        receiver::verify(&secret, r).expect("a valid Standard Webhooks signature");
        assert!(receiver::verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r).is_err(), "another secret fails");
    }
    let body = delivered[2].json();
    assert_eq!(body["type"], json!("credits.topped_up"));
    assert_eq!(body["id"], json!(ids[0]));
    assert_eq!(body["data"]["credits"], json!(2500));
    assert!(!delivered[2].body.contains("whsec_") && !delivered[2].body.contains("sk_"), "no secret in a body");

    let (status, attempts) =
        app.call(Method::GET, &format!("/api/v1/webhooks/{id}/attempts"), Some(&token), None).await;
    assert_eq!(status, 200);
    let codes: Vec<Value> =
        attempts["data"].as_array().expect("attempts").iter().map(|a| a["statusCode"].clone()).collect();
    assert_eq!(codes, [json!(200), json!(500), json!(500)], "newest first: {attempts}");

    // Redelivered by hand: the same event again, freshly signed.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/redeliver"),
            Some(&token),
            Some(&json!({"eventId": ids[0]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let again = eventually(WAIT, "the redelivery", || async { hook.received().get(3).cloned() }).await;
    assert_eq!(again.header("webhook-id"), Some(ids[0]));
    receiver::verify(&secret, &again).expect("signed");

    // Rotated: the old secret no longer verifies what comes next.
    let (status, rotated) =
        app.call(Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&token), None).await;
    assert_eq!(status, 200);
    let new_secret = rotated["secret"].as_str().expect("a new secret").to_owned();
    app.call(
        Method::POST,
        &format!("/api/v1/webhooks/{id}/redeliver"),
        Some(&token),
        Some(&json!({"eventId": ids[0]})),
    )
    .await;
    let last = eventually(WAIT, "a delivery under the new secret", || async { hook.received().get(4).cloned() }).await;
    receiver::verify(&new_secret, &last).expect("signed with the new secret");
    assert!(receiver::verify(&secret, &last).is_err());

    // Another account sees none of it.
    let other = app.jwt("not-hooked", "billing:read billing:write");
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/webhooks/{id}"), None),
        (Method::GET, format!("/api/v1/webhooks/{id}/attempts"), None),
        (Method::POST, format!("/api/v1/webhooks/{id}/rotate-secret"), None),
        (Method::POST, format!("/api/v1/webhooks/{id}/redeliver"), Some(json!({"eventId": ids[0]}))),
        (Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
    ] {
        let (status, res) = app.call(method.clone(), &path, Some(&other), body.as_ref()).await;
        assert_eq!(status, 404, "{method} {path}: {res}");
    }
    let (_, events) = app.call(Method::GET, "/api/v1/webhooks/events", Some(&other), None).await;
    assert_eq!(events["data"], json!([]));
    let (_, events) = app.call(Method::GET, "/api/v1/webhooks/events", Some(&token), None).await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "one event for one fact: {events}");
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), Some(&token), None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_limits_how_many_endpoints_an_account_has() {
    let app = TestApp::with(tollgate_tests::TestOptions {
        env: FAST.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    })
    .await;
    let hook = Receiver::start().await;
    let free = app.jwt("free-hooks", "billing:read billing:write");
    let (status, res) = create_endpoint(&app, &free, json!({"url": hook.url})).await;
    assert_eq!((status, res["error"].clone()), (403, json!("feature_not_available")), "{res}");
    assert_eq!(res["details"]["requiredTier"], json!("Starter"));
    assert_eq!(res["details"]["planId"], json!("starter"));
    assert_eq!(res["details"]["limit"], json!(0));

    let starter = app.jwt("starter-hooks", "billing:read billing:write");
    app.give_key_tier("starter-hooks", "tier-starter").await;
    for _ in 0..3 {
        let (status, res) = create_endpoint(&app, &starter, json!({"url": hook.url})).await;
        assert_eq!(status, 201, "{res}");
    }
    let (status, res) = create_endpoint(&app, &starter, json!({"url": hook.url})).await;
    assert_eq!((status, res["error"].clone()), (403, json!("feature_not_available")), "{res}");
    assert_eq!((res["details"]["requiredTier"].clone(), res["details"]["used"].clone()), (json!("Growth"), json!(3)));
    let (_, listed) = app.call(Method::GET, "/api/v1/webhooks", Some(&starter), None).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(3));

    // Bad fields are named; nothing is made.
    let (status, res) = create_endpoint(&app, &starter, json!({"eventTypes": ["payment.stolen"]})).await;
    assert_eq!(status, 400, "{res}");
    assert!(res["details"]["url"].is_string() && res["details"]["eventTypes"].is_string(), "{res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_metadata_addresses_are_refused_as_targets_and_redirects_are_not_followed() {
    // Production defaults: no private targets.
    let app = TestApp::spawn().await;
    let token = app.jwt("ssrf", "billing:read billing:write");
    app.give_key_tier("ssrf", "tier-growth").await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "https://user:secret@example.com/",
        "javascript:alert(1)",
    ] {
        let (status, res) = create_endpoint(&app, &token, json!({"url": url})).await;
        assert_eq!(status, 400, "{url}: {res}");
        assert!(res["details"]["url"].is_string(), "{url}: {res}");
    }
    let (_, listed) = app.call(Method::GET, "/api/v1/webhooks", Some(&token), None).await;
    assert_eq!(listed["data"], json!([]), "nothing refused was made");

    // A redirect is an answer, not an instruction: the second host hears nothing.
    let (app, stripe) = app_with_fake_stripe_and(&FAST).await;
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    first.redirect_to(&second.url);
    let token = app.jwt("redirected", "billing:read billing:write");
    app.give_key_tier("redirected", "tier-starter").await;
    let (status, endpoint) =
        create_endpoint(&app, &token, json!({"url": first.url, "eventTypes": ["payment.succeeded"]})).await;
    assert_eq!(status, 201, "{endpoint}");
    top_up(&app, &stripe, &token, 10).await;
    eventually(WAIT, "the retry after the redirect", || async { (first.received().len() >= 2).then_some(()) }).await;
    assert!(second.received().is_empty(), "the redirect was not followed");
    let id = endpoint["id"].as_str().expect("id");
    let (_, attempts) = app.call(Method::GET, &format!("/api/v1/webhooks/{id}/attempts"), Some(&token), None).await;
    let codes: Vec<Value> =
        attempts["data"].as_array().expect("attempts").iter().map(|a| a["statusCode"].clone()).collect();
    assert!(codes.contains(&json!(302)) && codes.contains(&json!(200)), "{attempts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_throughout_its_window_is_disabled_and_the_account_told() {
    let mut env: Vec<(&str, &str)> = FAST.to_vec();
    env.push(("WEBHOOK_DISABLE_AFTER", "2s"));
    let (app, stripe) = app_with_fake_stripe_and(&env).await;
    let (down, watcher) = (Receiver::start().await, Receiver::start().await);
    down.always(503);
    let token = app.jwt("flaky", "billing:read billing:write");
    app.give_key_tier("flaky", "tier-starter").await;
    let (_, failing) =
        create_endpoint(&app, &token, json!({"url": down.url, "eventTypes": ["payment.succeeded"]})).await;
    let (_, watching) =
        create_endpoint(&app, &token, json!({"url": watcher.url, "eventTypes": ["webhook_endpoint.disabled"]})).await;
    let (failing_id, watcher_secret) =
        (failing["id"].as_str().expect("id").to_owned(), watching["secret"].as_str().expect("secret").to_owned());
    top_up(&app, &stripe, &token, 10).await;

    let told = eventually(WAIT, "the account to be told", || async { watcher.received().first().cloned() }).await;
    receiver::verify(&watcher_secret, &told).expect("signed");
    let body = told.json();
    assert_eq!(body["type"], json!("webhook_endpoint.disabled"));
    assert_eq!(body["data"]["endpointId"], json!(failing_id));
    let (_, endpoint) = app.call(Method::GET, &format!("/api/v1/webhooks/{failing_id}"), Some(&token), None).await;
    assert_eq!(endpoint["status"], json!("disabled"), "{endpoint}");
    assert!(endpoint["disabledReason"].is_string());
    app.wait_drained(WAIT).await;
    let tries = down.received().len();
    assert!(tries >= 2, "retried before giving up: {tries}");
    // Disabled: no more deliveries to it, until its owner turns it back on.
    top_up(&app, &stripe, &token, 11).await;
    app.wait_drained(WAIT).await;
    assert_eq!(down.received().len(), tries, "nothing sent to a disabled endpoint");
    let (status, endpoint) =
        app.call(Method::POST, &format!("/api/v1/webhooks/{failing_id}/enable"), Some(&token), None).await;
    assert_eq!((status, endpoint["status"].clone()), (200, json!("enabled")), "{endpoint}");
    let rows = entities::webhook_endpoints::Entity::find()
        .filter(entities::webhook_endpoints::Column::Id.eq(uuid::Uuid::parse_str(&failing_id).expect("uuid")))
        .one(&app.db.conn)
        .await
        .expect("row")
        .expect("endpoint");
    assert_eq!(rows.failing_since, None, "its window starts afresh");
}

const SERVICE: &str = "gateway-service-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogs_facts_reach_the_endpoint_once_each() {
    let mut env: Vec<(String, String)> = FAST.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.push(("SERVICE_TOKEN".into(), SERVICE.into()));
    env.push(("KEY_CACHE_TTL_MS".into(), "0".into()));
    let app = TestApp::with(tollgate_tests::TestOptions { env, ..Default::default() }).await;
    let hook = Receiver::start().await;
    let token = app.jwt("catalog", "billing:read billing:write");
    app.give_key_tier("catalog", "tier-starter").await;
    let (status, endpoint) = create_endpoint(&app, &token, json!({"url": hook.url})).await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().expect("secret").to_owned();
    let (status, res) = app
        .call(Method::PUT, "/api/v1/webhooks/settings", Some(&token), Some(&json!({"creditsLowThreshold": 500})))
        .await;
    assert_eq!((status, res["creditsLowThreshold"].clone()), (200, json!(500)), "{res}");

    // 1,000 credits paid by card.
    let order = app.topup_order("catalog", 10).await;
    let paid = tollgate_tests::events::checkout_session_completed("evt_catalog_topup", order.id, 1_000);
    app.deliver(&paid).await;
    app.deliver(&paid).await;
    app.wait_drained(WAIT).await;
    // Usage takes the balance below 500 credits, then to nothing.
    let (_, credit) = app.post("/api/keys/credit", &token, &json!({"name": "agent"})).await;
    let (credit_key, credit_id) = (
        credit["data"]["key"].as_str().expect("key").to_owned(),
        credit["data"]["id"].as_str().expect("id").to_owned(),
    );
    let at = chrono::Utc::now().to_rfc3339();
    for (id, cost) in [("u1", 6_000_000), ("u2", 5_000_000)] {
        let ev =
            json!([{"id": id, "key": credit_key, "metric": "tokens", "quantity": 1, "cost": cost, "timestamp": at}]);
        let (status, res) = app.post("/api/v1/usage", SERVICE, &json!({"events": ev})).await;
        assert_eq!(status, 202, "{res}");
        app.wait_drained(WAIT).await;
    }
    // A Starter key's monthly quota: 80 %, then all of it.
    let (status, tier) = app
        .call(
            Method::POST,
            "/api/v1/billing/api-keys",
            Some(&token),
            Some(&json!({"organizationName": "Acme", "contactEmail": "dev@acme.com", "tier": "Starter"})),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    let tier_key = tier["apiKey"].as_str().expect("key").to_owned();
    for cost in [8_000, 1_999, 1, 5] {
        let (status, res) = app.post("/api/v1/keys/verify", SERVICE, &json!({"key": tier_key, "cost": cost})).await;
        assert_eq!(status, 200, "{res}");
    }
    // A key revoked.
    let (status, _) = app.call(Method::DELETE, &format!("/api/keys/{credit_id}"), Some(&token), None).await;
    assert_eq!(status, 200);

    let want = ["payment.succeeded", "credits.topped_up", "credits.low", "credits.exhausted", "key.revoked"];
    let got = eventually(WAIT, "every fact", || async {
        let got = hook.received();
        let types: Vec<String> = got.iter().filter_map(|r| r.json()["type"].as_str().map(str::to_owned)).collect();
        let quotas = types.iter().filter(|t| *t == "usage.quota_reached").count();
        (want.iter().all(|w| types.iter().any(|t| t == w)) && quotas == 2).then_some(got)
    })
    .await;
    app.wait_drained(WAIT).await;
    let got = if hook.received().len() > got.len() { hook.received() } else { got };
    let mut types: Vec<String> = got.iter().filter_map(|r| r.json()["type"].as_str().map(str::to_owned)).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "credits.exhausted",
            "credits.low",
            "credits.topped_up",
            "key.revoked",
            "payment.succeeded",
            "usage.quota_reached",
            "usage.quota_reached"
        ],
        "each fact once"
    );
    for r in &got {
        receiver::verify(&secret, r).expect("signed");
    }
    let by_type = |t: &str| got.iter().map(|r| r.json()).find(|b| b["type"] == json!(t)).expect("event");
    assert_eq!(by_type("credits.low")["data"], json!({"balance": 400, "threshold": 500}));
    assert_eq!(by_type("payment.succeeded")["data"]["amount"], json!(1_000));
    let percents: Vec<Value> = got
        .iter()
        .map(|r| r.json())
        .filter(|b| b["type"] == json!("usage.quota_reached"))
        .map(|b| b["data"]["percent"].clone())
        .collect();
    assert!(percents.contains(&json!(80)) && percents.contains(&json!(100)), "{percents:?}");
}
