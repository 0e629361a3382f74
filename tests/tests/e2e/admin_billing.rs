//! The admin surface (credits API) and the subscription API's entitlements: plans, check-in configuration,
//! manual credits (idempotent, audited, never negative), every customer's transactions;
//! admin routes refuse everyone else; entitlements of the plan in force with usage.

use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;
use tollgate_tests::{TestApp, TestOptions};

const SERVICE: &str = "gateway-service-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_refuse_everyone_but_admins() {
    let app = TestApp::with(TestOptions { worker: false, ..TestOptions::default() }).await;
    let user = app.jwt("plain-user", "billing:read billing:write");
    let routes: [(Method, &str, Option<Value>); 7] = [
        (Method::GET, "/admin/billing/plans", None),
        (Method::POST, "/admin/billing/plans", Some(json!({"slug": "x", "name": "X"}))),
        (Method::PUT, "/admin/billing/plans/plan_pro", Some(json!({"name": "Mine"}))),
        (Method::GET, "/admin/credits/transactions", None),
        (
            Method::POST,
            "/admin/credits/manual",
            Some(json!({"user_id": "plain-user", "amount": 1000, "reason": "x", "idempotency_key": "k"})),
        ),
        (Method::GET, "/admin/checkin/config", None),
        (Method::PUT, "/admin/checkin/config", Some(json!({"daily_credits": 1000}))),
    ];
    for (method, path, body) in routes {
        let (status, res) = app.call(method.clone(), path, Some(&user), body.as_ref()).await;
        assert_eq!(status, 403, "{method} {path}: {res}");
        assert_eq!(res["success"], json!(false), "the credits API's envelope: {res}");
        let (status, _) = app.call(method.clone(), path, None, body.as_ref()).await;
        assert_eq!(status, 401, "{method} {path} without a credential");
    }
    // Nothing changed.
    let plan = billing::catalog::plan_by_slug(&app.db.conn, "plan_pro").await.expect("q").expect("pro");
    assert_eq!(plan.name, "Pro");
    assert_eq!(entities::ledger_transfers::Entity::find().count(&app.db.conn).await.expect("count"), 0);
    assert_eq!(billing::checkin::config(&app.db.conn).await.expect("cfg").daily_credits, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_and_edit_plans() {
    let app = TestApp::with(TestOptions { worker: false, ..TestOptions::default() }).await;
    let admin = app.jwt("plan-admin", "admin");

    let (status, bad) = app
        .post(
            "/admin/billing/plans",
            &admin,
            &json!({"slug": "Not A Slug", "name": "Bad", "price_monthly": -5, "credits_included": "lots"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    let details = bad["error"]["details"].as_object().expect("details");
    let mut named: Vec<&str> = details.keys().map(String::as_str).collect();
    named.sort_unstable();
    assert_eq!(named, ["credits_included", "price_monthly", "slug"], "every bad field named: {bad}");
    let (status, bad) = app.post("/admin/billing/plans", &admin, &json!({"price_yearly": "ten"})).await;
    let mut named: Vec<&str> =
        bad["error"]["details"].as_object().expect("details").keys().map(String::as_str).collect();
    named.sort_unstable();
    assert_eq!((status, named), (400, vec!["name", "price_yearly", "slug"]), "missing and bad fields at once: {bad}");

    let new = json!({"slug": "plan_scale", "name": "Scale", "description": "For scale", "price_monthly": 4900,
                     "price_yearly": 49000, "credits_included": 3000, "features": ["More"],
                     "limits": [{"key": "triggers", "label": "triggers", "value": 500}]});
    let (status, created) = app.post("/admin/billing/plans", &admin, &new).await;
    assert_eq!(status, 201, "{created}");
    let plan = &created["data"];
    assert_eq!((plan["price_monthly"].clone(), plan["credits_included"].clone()), (json!(4900), json!(3000)));
    let stored = billing::catalog::plan_by_slug(&app.db.conn, "plan_scale").await.expect("q").expect("stored");
    assert_eq!(
        (stored.price_monthly, stored.credits_per_period),
        (Some(billing::Micros::new(49_000_000)), billing::Micros::new(30_000_000)),
        "micro-USD inside"
    );
    assert_eq!(app.post("/admin/billing/plans", &admin, &new).await.0, 409, "slugs are unique");

    // Public listing shows it with the limit; then a price change forgets the Stripe price.
    let (_, public) = app.call(Method::GET, "/plans", None, None).await;
    let listed = public.as_array().expect("plans").iter().find(|p| p["id"] == json!("plan_scale")).cloned();
    assert_eq!(listed.expect("listed")["limits"]["triggers"]["value"], json!(500));
    entities::plans::Entity::update_many()
        .col_expr(entities::plans::Column::StripePriceMonthly, sea_orm::sea_query::Expr::value("price_old"))
        .filter(entities::plans::Column::Id.eq(stored.id))
        .exec(&app.db.conn)
        .await
        .expect("set price id");
    let (status, updated) = app
        .call(
            Method::PUT,
            "/admin/billing/plans/plan_scale",
            Some(&admin),
            Some(&json!({"price_monthly": 5900, "is_active": false})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["data"]["price_monthly"].clone(), updated["data"]["stripe_price_monthly"].clone()),
        (json!(5900), Value::Null),
        "a new price is a new Stripe Price"
    );
    let (_, public) = app.call(Method::GET, "/plans", None, None).await;
    assert!(public.as_array().expect("plans").iter().all(|p| p["id"] != json!("plan_scale")), "inactive: hidden");
    let (_, all) = app.get("/admin/billing/plans", &admin).await;
    assert!(all["data"].as_array().expect("all").iter().any(|p| p["slug"] == json!("plan_scale")), "admins see it");

    let (status, _) =
        app.call(Method::PUT, "/admin/billing/plans/plan_scale", Some(&admin), Some(&json!({"slug": "x"}))).await;
    assert_eq!(status, 400, "slugs are fixed once sold");
    let (status, _) =
        app.call(Method::PUT, "/admin/billing/plans/no_such_plan", Some(&admin), Some(&json!({"name": "N"}))).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_in_config_and_manual_credits() {
    let app = TestApp::with(TestOptions { worker: false, ..TestOptions::default() }).await;
    let admin = app.jwt("credit-admin", "admin");
    let user = app.jwt("credit-user", "billing:read billing:write");

    let (_, cfg) = app.get("/admin/checkin/config", &admin).await;
    assert_eq!((cfg["data"]["daily_credits"].clone(), cfg["data"]["enabled"].clone()), (json!(10), json!(true)));
    let (status, _) =
        app.call(Method::PUT, "/admin/checkin/config", Some(&admin), Some(&json!({"daily_credits": -1}))).await;
    assert_eq!(status, 400);
    let (status, cfg) =
        app.call(Method::PUT, "/admin/checkin/config", Some(&admin), Some(&json!({"daily_credits": 25}))).await;
    assert_eq!((status, cfg["data"]["daily_credits"].clone()), (200, json!(25)), "{cfg}");

    // Check-in grants the configured credits once a day; the second call grants nothing.
    let (status, first) = app.post("/checkin", &user, &json!({})).await;
    assert_eq!(
        (status, first["data"]["credits"].clone(), first["data"]["balance"].clone()),
        (200, json!(25), json!(25))
    );
    let (status, second) = app.post("/checkin", &user, &json!({})).await;
    assert_eq!((status, second["success"].clone()), (409, json!(false)), "{second}");
    let (_, balance) = app.get("/credits/balance", &user).await;
    assert_eq!(balance["data"]["balance"], json!(25));

    let manual = |amount: i64, key: &str| json!({"user_id": "credit-user", "amount": amount, "reason": "goodwill", "idempotency_key": key});
    let (status, added) = app.post("/admin/credits/manual", &admin, &manual(100, "adj-1")).await;
    assert_eq!((status, added["data"]["balance"].clone()), (201, json!(125)), "{added}");
    let (status, again) = app.post("/admin/credits/manual", &admin, &manual(100, "adj-1")).await;
    assert_eq!(
        (status, again["data"]["id"].clone(), again["data"]["balance"].clone()),
        (200, added["data"]["id"].clone(), json!(125))
    );
    assert_eq!(app.post("/admin/credits/manual", &admin, &manual(300, "adj-1")).await.0, 422, "same key, other amount");
    let (status, refused) = app.post("/admin/credits/manual", &admin, &manual(-126, "adj-2")).await;
    assert_eq!((status, refused["error"]["code"].clone()), (402, json!("insufficient_credits")), "{refused}");
    let (status, taken) = app.post("/admin/credits/manual", &admin, &manual(-125, "adj-3")).await;
    assert_eq!(
        (status, taken["data"]["balance"].clone(), taken["data"]["amount"].clone()),
        (201, json!(0), json!(-125))
    );
    let (status, bad) = app.post("/admin/credits/manual", &admin, &json!({"amount": 0})).await;
    assert_eq!(status, 400, "{bad}");
    let details = bad["success"].clone();
    assert_eq!(details, json!(false));
    let named = bad["error"]["details"].as_object().expect("details").len();
    assert_eq!(named, 4, "key, amount, reason and account named: {bad}");
    let unknown = json!({"account_id": uuid::Uuid::now_v7(), "amount": 5, "reason": "x", "idempotency_key": "adj-4"});
    assert_eq!(app.post("/admin/credits/manual", &admin, &unknown).await.0, 404);

    let account = billing::accounts::ensure(&app.db.conn, "credit-user").await.expect("account");
    assert_eq!(app.balance(account.id).await.get(), 0);
    let audits = entities::audit_log::Entity::find()
        .filter(entities::audit_log::Column::Action.eq("credits_manual_adjustment"))
        .all(&app.db.conn)
        .await
        .expect("audit");
    assert_eq!(audits.len(), 2, "one audit row per adjustment made: {audits:?}");
    assert!(audits.iter().all(|a| a.actor == "credit-admin"));

    let other = app.jwt("someone-else", "billing:write");
    assert_eq!(app.post("/checkin", &other, &json!({})).await.0, 200);
    let (_, all) = app.get("/admin/credits/transactions?limit=10", &admin).await;
    let lines: Vec<(Value, Value)> =
        all["data"].as_array().expect("data").iter().map(|t| (t["type"].clone(), t["amount"].clone())).collect();
    assert_eq!(lines.len(), 4, "every customer's movements: {all}");
    assert!(lines.contains(&(json!("manual"), json!(-125))) && lines.contains(&(json!("checkin"), json!(25))));
    let (_, mine) =
        app.get(&format!("/admin/credits/transactions?account_id={}&type=manual", account.id), &admin).await;
    let amounts: Vec<Value> = mine["data"].as_array().expect("data").iter().map(|t| t["amount"].clone()).collect();
    assert_eq!(amounts, [json!(-125), json!(100)], "one account's manual lines, newest first");
    app.assert_ledger_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_follow_the_plan_in_force_with_usage() {
    let app =
        TestApp::with(TestOptions { env: vec![("SERVICE_TOKEN".into(), SERVICE.into())], ..TestOptions::default() })
            .await;
    let token = app.jwt("ent-user", "billing:read");
    let (status, ent) = app.get("/entitlements", &token).await;
    assert_eq!((status, ent["plan_id"].clone()), (200, json!("starter")), "no subscription: Starter");
    let rows = ent["entitlements"].as_array().expect("rows");
    let triggers = rows.iter().find(|r| r["resource"] == json!("triggers")).expect("triggers");
    assert_eq!((triggers["limit"].clone(), triggers["enabled"].clone()), (json!(0), json!(false)), "{triggers}");
    assert!(rows.iter().all(|r| r.get("used").is_none()), "no usage here");

    let account = billing::accounts::ensure(&app.db.conn, "ent-user").await.expect("account");
    let (_, key) = billing::api_keys::create(
        &app.db.conn,
        billing::api_keys::NewKey {
            account_id: account.id,
            kind: entities::ApiKeyKind::Tier,
            name: "gw".into(),
            tier: Some(entities::KeyTier::Free),
            subscription_id: None,
            pledge_id: None,
            organization_name: Some("Acme".into()),
            contact_email: Some("dev@acme.com".into()),
            scopes: billing::api_keys::DEFAULT_SCOPES.into(),
            brand: None,
        },
    )
    .await
    .expect("key");
    let now = chrono::Utc::now().to_rfc3339();
    let events: Vec<Value> = (0..3)
        .map(
            |i| json!({"id": format!("st-{i}"), "key": key, "metric": "storage_mb", "quantity": 400, "timestamp": now}),
        )
        .collect();
    let (status, res) = app.post("/api/v1/usage", SERVICE, &json!({"events": events})).await;
    assert_eq!(status, 202, "{res}");
    app.wait_drained(Duration::from_secs(20)).await;

    let (_, usage) = app.get("/entitlements/usage", &token).await;
    let storage =
        usage["entitlements"].as_array().expect("rows").iter().find(|r| r["resource"] == json!("storage_mb")).cloned();
    let storage = storage.expect("storage");
    assert_eq!(
        (storage["limit"].clone(), storage["used"].clone(), storage["remaining"].clone(), storage["at_limit"].clone()),
        (json!(1024), json!(1200), json!(0), json!(true)),
        "{storage}"
    );
    assert_eq!(storage["unit"], json!("mb"));
    assert_eq!(usage["period"], json!(billing::usage::period_of(chrono::Utc::now())));
    let (status, err) = app.get("/entitlements", "not-a-token").await;
    assert_eq!(
        (status, err["error"]["type"].clone()),
        (401, json!("unauthorized")),
        "the subscription API's envelope: {err}"
    );
}

/// Re-running `migrate` with a catalog whose price changed forgets the Stripe Price (they
/// are immutable), so checkouts sell the new price; an unchanged price keeps its Price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_price_change_forgets_the_stripe_price() {
    let db = tollgate_tests::db::TestDb::postgres().await;
    let catalog = include_str!("../../../catalog.json");
    entities::plans::Entity::update_many()
        .col_expr(entities::plans::Column::StripePriceMonthly, sea_orm::sea_query::Expr::value("price_old_m"))
        .col_expr(entities::plans::Column::StripePriceYearly, sea_orm::sea_query::Expr::value("price_old_y"))
        .filter(entities::plans::Column::Slug.eq("plan_pro"))
        .exec(&db.conn)
        .await
        .expect("set price ids");
    let pro = |conn: sea_orm::DatabaseConnection| async move {
        billing::catalog::plan_by_slug(&conn, "plan_pro").await.expect("q").expect("pro")
    };
    billing::catalog::load(&db.conn, catalog).await.expect("same catalog");
    let same = pro(db.conn.clone()).await;
    assert_eq!(
        (same.stripe_price_monthly.as_deref(), same.stripe_price_yearly.as_deref()),
        (Some("price_old_m"), Some("price_old_y"))
    );

    let repriced = catalog.replacen(r#""priceMonthly": "20""#, r#""priceMonthly": "25""#, 1);
    assert_ne!(repriced, catalog, "the catalog has plan_pro at 20 USD a month");
    billing::catalog::load(&db.conn, &repriced).await.expect("new price");
    let after = pro(db.conn.clone()).await;
    assert_eq!(after.price_monthly, Some(billing::Micros::new(25_000_000)));
    assert_eq!(
        (after.stripe_price_monthly, after.stripe_price_yearly.as_deref()),
        (None, Some("price_old_y")),
        "only the changed price"
    );
}
