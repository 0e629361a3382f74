//! The pages, in a real browser (headless Chromium over WebDriver): the pricing toggle, a
//! phone's width, usage bars at 79 %, 80 % and 100 %, the upgrade modal, checkout back to
//! the settings page, and the API reference. Screenshots: `target/screenshots/`.

use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::browser::Browser;
use tollgate_tests::fake_stripe::app_with_fake_stripe_and;
use tollgate_tests::{TestApp, TestOptions, eventually};

const SERVICE: &str = "gateway-service-token-0123456789";

/// Opens `path` signed in as `token` (handed over in the fragment, as a host product does).
async fn open_signed_in(browser: &Browser, app: &TestApp, path: &str, token: &str) {
    // A page loaded afresh (the same URL with another fragment would not reload).
    browser.goto("about:blank").await;
    browser.goto(&format!("{}{path}#token={token}", app.base_url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pricing_toggle_switches_prices_and_the_page_fits_a_phone() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/pricing", app.base_url)).await;
    assert_eq!(browser.text("[data-plan=plan_pro] .amount").await, "$20.00");
    assert_eq!(browser.text("[data-plan=plan_team] .amount").await, "$100.00");
    assert!(browser.text(".compare").await.contains("Unlimited"), "the comparison table");
    browser.screenshot("pricing-monthly").await;
    browser.click(".toggle-option[data-interval=yearly]").await;
    assert_eq!(browser.text("[data-plan=plan_pro] .amount").await, "$200.00");
    assert_eq!(browser.text("[data-plan=plan_pro] .per").await, "/year");
    assert_eq!(browser.text("[data-plan=plan_team] .amount").await, "$1,000.00");
    let pressed =
        browser.eval("return document.querySelector('[data-interval=yearly]').getAttribute('aria-pressed')").await;
    assert_eq!(pressed, json!("true"));
    browser.screenshot("pricing-yearly").await;
    // By keyboard alone, back to monthly.
    browser.press_enter(".toggle-option[data-interval=monthly]").await;
    assert_eq!(browser.text("[data-plan=plan_pro] .amount").await, "$20.00");
    browser.close().await;

    // 375 px wide: nothing scrolls sideways, on either page.
    let phone = Browser::start(375, 812).await;
    let token = app.jwt("phone-user", "billing:read billing:write");
    for (path, shot) in [("/pricing", "pricing-375"), ("/settings/billing/subscription", "subscription-375")] {
        open_signed_in(&phone, &app, path, &token).await;
        phone.until("the page to settle", "return document.readyState === 'complete' && !document.getElementById('loading') || document.getElementById('loading').hidden;").await;
        assert_eq!(phone.eval("return window.innerWidth;").await, json!(375), "a phone's viewport");
        assert!(!phone.overflows_horizontally().await, "{path} scrolls sideways at 375 px");
        phone.screenshot(shot).await;
    }
    phone.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_bars_warn_from_80_percent_and_mark_the_cap() {
    let app = TestApp::with(TestOptions {
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("KEY_CACHE_TTL_MS".into(), "0".into())],
        ..Default::default()
    })
    .await;
    let token = app.jwt("usage-bars", "billing:read billing:write");
    let (code, made) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Bars Inc", "contactEmail": "ops@bars.example"}),
        )
        .await;
    assert_eq!(code, 201, "{made}");
    let key = made["apiKey"].as_str().expect("key").to_owned();
    let browser = Browser::start(1280, 900).await;
    // Starter's storage is 1,024 MB: 809 is 79 %, 820 is 80 %, 1,024 the cap.
    let mut total = 0;
    for (i, (to, state)) in [(809, "ok"), (820, "warning"), (1024, "cap")].into_iter().enumerate() {
        let at = chrono::Utc::now().to_rfc3339();
        let ev = json!({"events": [{"id": format!("s-{i}"), "key": key, "metric": "storage_mb", "quantity": to - total, "timestamp": at}]});
        assert_eq!(app.post("/api/v1/usage", SERVICE, &ev).await.0, 202);
        total = to;
        eventually(Duration::from_secs(20), "storage metered", || async {
            let (_, set) = app.get("/entitlements/usage", &token).await;
            let rows = set["entitlements"].as_array().cloned().unwrap_or_default();
            rows.iter().any(|r| r["resource"] == json!("storage_mb") && r["used"] == json!(to)).then_some(())
        })
        .await;
        open_signed_in(&browser, &app, "/settings/billing/subscription", &token).await;
        let bar = "[data-resource=storage_mb]";
        browser.until("the usage bars", &format!("return !!document.querySelector('{bar}');")).await;
        assert_eq!(
            browser.eval(&format!("return document.querySelector('{bar}').dataset.state;")).await,
            json!(state),
            "{to} MB"
        );
        let label = browser.text(&format!("{bar} .meter-label")).await;
        assert!(label.contains(&tollgate_tests::browser::thousands(to)), "{label}");
        let shown = browser
            .eval("return ['cancel', 'resume', 'portal'].map(id => document.getElementById(id).offsetParent !== null);")
            .await;
        assert_eq!(shown, json!([false, false, false]), "no subscription: nothing to cancel, resume or manage");
        browser.screenshot(&format!("usage-{state}")).await;
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_action_opens_the_upgrade_modal_with_the_recommended_plan() {
    let app = TestApp::with(TestOptions {
        env: vec![("SERVICE_TOKEN".into(), SERVICE.into()), ("KEY_CACHE_TTL_MS".into(), "0".into())],
        ..Default::default()
    })
    .await;
    let token = app.jwt("modal-team", "billing:read billing:write");
    let (_, made) = app
        .post(
            "/api/v1/billing/api-keys",
            &token,
            &json!({"organizationName": "Modal Inc", "contactEmail": "ops@modal.example"}),
        )
        .await;
    let key = made["apiKey"].as_str().expect("key");
    // The host product's action needs triggers, which Starter lacks: the gateway refuses it.
    let (_, refused) = app.post("/api/v1/keys/verify", SERVICE, &json!({"key": key, "metric": "triggers"})).await;
    assert_eq!(refused["error"]["code"], json!("feature_not_available"), "{refused}");
    let browser = Browser::start(1280, 900).await;
    open_signed_in(&browser, &app, "/settings/billing/subscription", &token).await;
    browser.until("the page's scripts", "return !!window.TollgateUpgrade;").await;
    let body = json!({"error": refused["error"]});
    browser.eval(&format!("window.TollgateUpgrade.show({body}); return true;")).await;
    browser.until("the plans in the modal", "return document.querySelectorAll('.tg-plan').length > 0;").await;
    let recommended = browser.eval("return document.querySelector('.tg-recommended').dataset.plan;").await;
    assert_eq!(recommended, json!("plan_pro"), "the cheapest plan with triggers is marked");
    let listed: Value =
        browser.eval("return [...document.querySelectorAll('.tg-plan')].map(p => p.dataset.plan);").await;
    assert!(
        !listed.as_array().expect("plans").contains(&json!("starter")),
        "only plans above the current one: {listed}"
    );
    let focused =
        browser.eval("return document.activeElement && document.activeElement.closest('.tg-modal') !== null;").await;
    assert_eq!(focused, json!(true), "focus moves into the dialog");
    browser.screenshot("upgrade-modal").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_from_pricing_returns_to_settings_with_the_toast_and_the_new_plan() {
    let (app, stripe) = app_with_fake_stripe_and(&[]).await;
    let token = app.jwt("page-buyer", "billing:read billing:write");
    let browser = Browser::start(1280, 900).await;
    open_signed_in(&browser, &app, "/pricing", &token).await;
    browser.click("button.checkout[data-plan=plan_pro]").await;
    // The fake Stripe's hosted page: press Pay.
    browser.until("the checkout page", &format!("return location.href.startsWith('{}');", stripe.base_url)).await;
    browser.screenshot("checkout-fake-stripe").await;
    let url: Value = browser.eval("return location.href;").await;
    let session = stripe.session_of(url.as_str().expect("url"));
    assert!(
        session["success_url"].as_str().is_some_and(|u| u.ends_with("/settings/billing/subscription?success=1")),
        "{session}"
    );
    // The customer presses Pay; the fake Stripe sends them back as Stripe does.
    browser.click("button").await;
    browser.until("the settings page", "return location.pathname === '/settings/billing/subscription';").await;
    assert!(browser.text("#toast").await.contains("Payment received"), "the confirmation toast");
    browser.until("the plan", "return document.getElementById('plan-name').textContent === 'Pro';").await;
    assert!(browser.text("#plan-status").await.starts_with("active"));
    let hidden = browser.eval("return [document.getElementById('choose-plan').offsetParent === null, document.getElementById('cancel').offsetParent !== null];").await;
    assert_eq!(hidden, json!([true, true]), "a subscriber can cancel, not choose a first plan");
    browser.screenshot("subscription-after-checkout").await;
    // Back on pricing, a subscriber sees the plan marked and is sent to settings to change it.
    browser.goto(&format!("{}/pricing", app.base_url)).await;
    browser.until("the current plan", "return !!document.querySelector('.plan.current[data-plan=plan_pro]');").await;
    let manage =
        browser.eval("return document.querySelector('[data-plan=plan_pro] .manage').offsetParent !== null;").await;
    assert_eq!(manage, json!(true), "manage, not subscribe again");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reference_renders_with_no_network_beyond_this_machine() {
    let app = TestApp::spawn().await;
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/docs/", app.base_url)).await;
    browser
        .until("Swagger UI to render the operations", "return document.querySelectorAll('.opblock').length > 10;")
        .await;
    let foreign = browser
        .eval("return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin));")
        .await;
    assert_eq!(foreign, json!([]), "nothing loaded from elsewhere");
    browser.screenshot("api-reference").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_requeues_a_dead_job_and_it_runs() {
    use billing::jobs::{Job, QueuePolicy, outbox};
    let app = TestApp::spawn().await;
    // A job that died (its last error kept), recorded as a run's terminal failure is.
    let job = billing::jobs::contracts::Noop { id: "dashboard".into() };
    let policy = QueuePolicy::default_for(billing::jobs::contracts::Noop::QUEUE);
    let enqueued = outbox::enqueue(&app.db.conn, &job, &policy).await.expect("enqueue");
    let row = outbox::find(&app.db.conn, enqueued.job_id).await.expect("read").expect("the job");
    let failed = outbox::fail(&app.db.conn, &row, "the provider was down", false, &policy).await.expect("dead");
    assert_eq!(failed, outbox::Failure::Dead);
    let admin = app.jwt("ops", "admin");
    let browser = Browser::start(1280, 900).await;
    open_signed_in(&browser, &app, "/admin", &admin).await;
    let row = format!("#dead tr[data-job='{}']", enqueued.job_id);
    let text = browser.text(&row).await;
    assert!(text.contains("the provider was down"), "the dead job and its error: {text}");
    assert!(browser.text("#ledger-sum").await.contains("balance"), "ledger totals");
    assert!(browser.text("#queues").await.contains("noop"), "every queue");
    assert!(!browser.text("#queues").await.contains("NaN"), "ages read as numbers");
    assert!(browser.text("#recon-summary").await.contains("discrepancies"), "the reconciliation report");
    browser.screenshot("dashboard-dead-job").await;
    browser.click(&format!("{row} button")).await;
    eventually(Duration::from_secs(20), "the requeued job to run", || async {
        let job = app.job("noop:dashboard").await?;
        (job.status == entities::JobStatus::Done).then_some(())
    })
    .await;
    browser.until("the dead job gone from the list", &format!("return !document.querySelector(\"{row}\");")).await;
    // Pause and resume a queue from the page.
    browser.click("button[data-queue=noop]").await;
    browser
        .until("the queue paused", "return document.querySelector('tr[data-queue=noop]').dataset.paused === 'true';")
        .await;
    browser.screenshot("dashboard-after-requeue").await;
    browser.click("button[data-queue=noop]").await;
    browser
        .until("the queue resumed", "return document.querySelector('tr[data-queue=noop]').dataset.paused === 'false';")
        .await;
    // Anyone else sees the API's refusal, not the data.
    let user = app.jwt("not-ops", "billing:read billing:write");
    open_signed_in(&browser, &app, "/admin", &user).await;
    browser.until("the refusal", "return !document.getElementById('load-error').hidden;").await;
    assert_eq!(browser.eval("return document.getElementById('dead').children.length;").await, json!(0));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_api_goes_away_the_page_says_so() {
    let mut app = TestApp::spawn().await;
    let token = app.jwt("down-user", "billing:read billing:write");
    let browser = Browser::start(1280, 900).await;
    open_signed_in(&browser, &app, "/settings/billing/subscription", &token).await;
    browser
        .until(
            "the page loaded",
            "return !!document.getElementById('balance') && document.getElementById('balance').textContent === '0';",
        )
        .await;
    app.kill_api().await;
    browser.click("#topup button[type=submit]").await;
    browser.until("a readable message", "return !document.getElementById('toast').hidden;").await;
    assert!(browser.text("#toast").await.contains("unreachable"), "not a blank page or a stack trace");
    browser.screenshot("api-unreachable").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sign_in_exists_in_development_only() {
    let app = TestApp::spawn().await;
    let res = app.http.get(format!("{}/dev/sign-in", app.base_url)).send().await.expect("request");
    assert_eq!(res.status().as_u16(), 404, "no demo sign-in outside development");

    let dev =
        TestApp::with(TestOptions { env: vec![("TOLLGATE_ENV".into(), "development".into())], ..Default::default() })
            .await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    for (query, sub) in [("", "demo"), ("?as=admin", "demo-admin")] {
        let res = no_redirects.get(format!("{}/dev/sign-in{query}", dev.base_url)).send().await.expect("request");
        assert_eq!(res.status().as_u16(), 303);
        let location = res.headers()["location"].to_str().expect("location").to_owned();
        let token = location.split("#token=").nth(1).expect("a token in the fragment");
        let (status, balance) = dev.get("/credits/balance", token).await;
        assert_eq!(status, 200, "{sub}: {balance}");
    }
}
