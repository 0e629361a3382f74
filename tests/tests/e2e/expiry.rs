//! Expiry: 30-day subscriptions past their end expire, their keys are revoked, credit keys
//! live on — once, with three workers racing every tick.

use chrono::{Duration as Days, Utc};
use entities::{ApiKeyKind, KeyStatus, PlanKind, SubscriptionStatus};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::time::Duration;
use tollgate_tests::{TestApp, TestOptions, eventually};
use uuid::Uuid;

const SERVICE: &str = "gateway-service-token-0123456789";

async fn subscription(app: &TestApp, account: billing::AccountId, ends_in: Days) -> Uuid {
    let plan = billing::catalog::plan_by_slug(&app.db.conn, "pro").await.expect("q").expect("pro");
    let id = Uuid::now_v7();
    let now = Utc::now();
    entities::subscriptions::Entity::insert(entities::subscriptions::ActiveModel {
        id: Set(id),
        account_id: Set(account),
        plan_id: Set(plan.id),
        kind: Set(PlanKind::Flat30d),
        status: Set(SubscriptionStatus::Active),
        interval: Set(None),
        stripe_subscription_id: Set(None),
        creem_subscription_id: Set(None),
        current_period_start: Set(Some(now - Days::days(30))),
        current_period_end: Set(Some(now + ends_in)),
        cancel_at_period_end: Set(true),
        pending_plan_id: Set(None),
        provider_version: Set(0),
        order_id: Set(None),
        trial_end: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("subscription");
    id
}

/// A key row; returns its id and the key itself.
async fn key(
    app: &TestApp,
    account: billing::AccountId,
    kind: ApiKeyKind,
    subscription: Option<Uuid>,
) -> (Uuid, String) {
    let id = Uuid::now_v7();
    let secret = billing::accounts::generate_key("tg_");
    entities::api_keys::Entity::insert(entities::api_keys::ActiveModel {
        id: Set(id),
        account_id: Set(account),
        kind: Set(kind),
        tier: Set(None),
        subscription_id: Set(subscription),
        pledge_id: Set(None),
        name: Set("k".into()),
        prefix: Set(secret[..10].to_owned()),
        key_hash: Set(billing::accounts::hash_key(&secret)),
        status: Set(KeyStatus::Active),
        organization_name: Set(None),
        contact_email: Set(None),
        expires_at: Set(None),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        scopes: Set(billing::api_keys::DEFAULT_SCOPES.into()),
    })
    .exec_without_returning(&app.db.conn)
    .await
    .expect("key");
    (id, secret)
}

async fn key_status(app: &TestApp, id: Uuid) -> KeyStatus {
    entities::api_keys::Entity::find_by_id(id).one(&app.db.conn).await.expect("q").expect("key").status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_with_three_workers_has_one_effect() {
    let mut app = TestApp::with(TestOptions {
        env: vec![("EXPIRY_INTERVAL_MS".into(), "300".into()), ("SERVICE_TOKEN".into(), SERVICE.into())],
        ..Default::default()
    })
    .await;
    app.start_worker(&[]).await;
    app.start_worker(&[]).await;
    let account = billing::accounts::ensure(&app.db.conn, "expiring").await.expect("account").id;
    let lapsed = subscription(&app, account, -Days::minutes(5)).await;
    let live = subscription(&app, account, Days::days(10)).await;
    let (lapsed_key, lapsed_secret) = key(&app, account, ApiKeyKind::Subscription, Some(lapsed)).await;
    let (live_key, _) = key(&app, account, ApiKeyKind::Subscription, Some(live)).await;
    let (credit_key, credit_secret) = key(&app, account, ApiKeyKind::Credit, None).await;
    // Credits for the credit key to draw on: today's check-in.
    let writer = app.jwt("expiring", "billing:write");
    assert_eq!(app.post("/checkin", &writer, &serde_json::json!({})).await.0, 200);

    eventually(Duration::from_secs(20), "the lapsed subscription to expire", || async {
        let s = entities::subscriptions::Entity::find_by_id(lapsed).one(&app.db.conn).await.ok()??;
        (s.status == SubscriptionStatus::Expired).then_some(())
    })
    .await;
    // Several more ticks, three workers each time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.wait_drained(Duration::from_secs(10)).await;

    assert_eq!(key_status(&app, lapsed_key).await, KeyStatus::Revoked);
    assert_eq!(key_status(&app, live_key).await, KeyStatus::Active);
    assert_eq!(key_status(&app, credit_key).await, KeyStatus::Active, "credit keys are untouched");
    let live_sub = entities::subscriptions::Entity::find_by_id(live).one(&app.db.conn).await.expect("q").expect("sub");
    assert_eq!(live_sub.status, SubscriptionStatus::Active);
    let effects = entities::audit_log::Entity::find()
        .filter(entities::audit_log::Column::Action.eq("subscription_expired"))
        .all(&app.db.conn)
        .await
        .expect("audit");
    assert_eq!(effects.len(), 1, "one effect: {effects:?}");
    let ticks = entities::jobs::Entity::find()
        .filter(entities::jobs::Column::JobKey.starts_with("expiry:"))
        .all(&app.db.conn)
        .await
        .expect("jobs");
    assert!(ticks.len() >= 3, "several ticks ran: {}", ticks.len());
    // Ticks keep coming while we look: a just-enqueued one may not have run yet.
    assert!(
        ticks.iter().all(|j| j.attempts <= 1 && j.status != entities::JobStatus::Dead),
        "each tick ran at most once: {:?}",
        ticks.iter().map(|j| (j.attempts, j.status)).collect::<Vec<_>>()
    );
    assert!(ticks.iter().filter(|j| j.status == entities::JobStatus::Done).count() >= 3);
    // The gateway's view: the lapsed subscription's key is refused, the credit key verifies.
    let verify = |secret: String| {
        let app = &app;
        async move { app.post("/api/v1/keys/verify", SERVICE, &serde_json::json!({"key": secret})).await.1 }
    };
    assert_eq!(verify(lapsed_secret).await["reason"], serde_json::json!("revoked"));
    let credit = verify(credit_secret).await;
    assert_eq!(credit["valid"], serde_json::json!(true), "credit keys still verify: {credit}");
    let token = app.jwt("expiring", "billing:read");
    let (_, status) = app.get("/api/billing/status", &token).await;
    assert_eq!(status["data"]["status"], serde_json::json!("active"), "the live subscription remains");
    app.assert_ledger_invariants().await;
}

/// Pool pledges are Stripe subscriptions: one whose subscription ended expires at its period
/// end; a live one whose renewal events are late is left alone for the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pledges_expire_when_ended_or_when_no_renewal_came() {
    use entities::PledgeStatus;
    let db = tollgate_tests::db::TestDb::postgres().await;
    let account = billing::accounts::ensure(&db.conn, "pledger").await.expect("account").id;
    let pool = billing::pools::find(&db.conn, "kimi26").await.expect("q").expect("pool");
    let now = Utc::now();
    let pledge = |status: PledgeStatus, ended: Days| {
        let conn = db.conn.clone();
        let pool = pool.clone();
        async move {
            let p = billing::pools::create_pledge(
                &conn,
                &pool,
                account,
                &["asia".to_owned()],
                1,
                entities::BillingInterval::Month,
            )
            .await
            .expect("pledge");
            entities::pool_pledges::Entity::update(entities::pool_pledges::ActiveModel {
                id: Set(p.id),
                status: Set(status),
                current_period_end: Set(Some(now - ended)),
                ..Default::default()
            })
            .exec(&conn)
            .await
            .expect("update");
            p.id
        }
    };
    let canceled = pledge(PledgeStatus::Canceled, Days::minutes(5)).await;
    let renewing = pledge(PledgeStatus::Active, Days::hours(1)).await;
    let abandoned = pledge(PledgeStatus::PastDue, Days::days(4)).await;
    let done = billing::subscriptions::expire_due(&db.conn, now).await.expect("expiry");
    let mut expired = done.pledges.clone();
    expired.sort();
    let mut expected = vec![canceled, abandoned];
    expected.sort();
    assert_eq!(expired, expected, "a renewal an hour late is not an expiry");
    let status = |id| {
        let conn = db.conn.clone();
        async move { entities::pool_pledges::Entity::find_by_id(id).one(&conn).await.expect("q").expect("row").status }
    };
    assert_eq!(status(renewing).await, PledgeStatus::Active);
    assert_eq!(status(abandoned).await, PledgeStatus::Expired);
}
