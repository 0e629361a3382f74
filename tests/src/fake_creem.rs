//! The project's fake Creem (Creem cannot be reached from here), built from Creem's
//! documented API and webhook payloads.
//!
//! It speaks Creem's REST API as Tollgate uses it: `x-api-key` authentication, JSON bodies,
//! `POST /v1/checkouts` (idempotent by `request_id`, `units` of a product), `GET
//! /v1/subscriptions?subscription_id=`, `POST /v1/subscriptions/{id}/cancel` (`immediate` or
//! `scheduled`), `POST /v1/customers/billing` (the portal link). Test helpers play the
//! customer and Creem's back office (pay a checkout, renew, cancel, expire, refund, dispute)
//! and return the events Creem would send, `{id, eventType, created_at, object}`, which the
//! test delivers signed (`creem-signature`: hex HMAC-SHA256 of the body), as often and in
//! whatever order it likes. Events that follow from API calls (a cancelation) are delivered
//! at once to the configured webhook.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "creem_test_tollgate_fake";
pub const WEBHOOK_SECRET: &str = "whsec_creem_test_secret";

fn random_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Clone)]
struct Product {
    price_cents: i64,
    recurring: Option<chrono::Duration>,
    name: String,
}

#[derive(Default)]
struct Store {
    products: HashMap<String, Product>,
    checkouts: HashMap<String, Value>,
    by_request: HashMap<String, String>,
    subscriptions: HashMap<String, Value>,
    /// Every API request as `METHOD path`.
    requests: Vec<String>,
    fail_next: u32,
    webhook: Option<String>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    base_url: String,
}

pub struct FakeCreem {
    pub base_url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"status": status.as_u16(), "error": message, "message": [message]}))).into_response()
}

impl FakeCreem {
    pub async fn start() -> FakeCreem {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind fake creem");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Shared { store: Arc::default(), base_url: base_url.clone() };
        let app = Router::new()
            .route("/v1/checkouts", post(create_checkout))
            .route("/v1/subscriptions", get(get_subscription))
            .route("/v1/subscriptions/{id}/cancel", post(cancel_subscription))
            .route("/v1/customers/billing", post(portal))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeCreem { base_url, shared, task }
    }

    /// The environment pointing an api or worker at this fake.
    pub fn env(&self, topup_product: Option<&str>) -> Vec<(String, String)> {
        let mut env = vec![
            ("CREEM_API_KEY".to_owned(), API_KEY.to_owned()),
            ("CREEM_WEBHOOK_SECRET".to_owned(), WEBHOOK_SECRET.to_owned()),
            ("CREEM_API_BASE".to_owned(), self.base_url.clone()),
        ];
        if let Some(p) = topup_product {
            env.push(("CREEM_TOPUP_PRODUCT_ID".to_owned(), p.to_owned()));
        }
        env
    }

    /// Where events that follow from API calls go.
    pub fn deliver_to(&self, url: &str) {
        self.shared.store.lock().expect("store").webhook = Some(url.to_owned());
    }

    /// A one-time product at `price_cents`.
    pub fn one_time_product(&self, id: &str, price_cents: i64) {
        let p = Product { price_cents, recurring: None, name: "Credits".into() };
        self.shared.store.lock().expect("store").products.insert(id.to_owned(), p);
    }

    /// A monthly subscription product at `price_cents`.
    pub fn monthly_product(&self, id: &str, name: &str, price_cents: i64) {
        let p = Product { price_cents, recurring: Some(chrono::Duration::days(30)), name: name.into() };
        self.shared.store.lock().expect("store").products.insert(id.to_owned(), p);
    }

    /// The next `n` API requests answer 500.
    pub fn fail_next(&self, n: u32) {
        self.shared.store.lock().expect("store").fail_next = n;
    }

    pub fn requests(&self) -> Vec<String> {
        self.shared.store.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    pub fn checkouts(&self) -> Vec<Value> {
        self.shared.store.lock().map(|s| s.checkouts.values().cloned().collect()).unwrap_or_default()
    }

    pub fn checkout(&self, id: &str) -> Value {
        self.shared.store.lock().expect("store").checkouts.get(id).cloned().expect("a checkout of this fake")
    }

    pub fn subscription(&self, id: &str) -> Value {
        self.shared.store.lock().expect("store").subscriptions.get(id).cloned().expect("a subscription of this fake")
    }

    /// The customer pays the checkout. Returns what Creem sends: `checkout.completed`, and
    /// for a subscription product `subscription.active` and `subscription.paid`.
    pub fn pay(&self, checkout_id: &str) -> Vec<Value> {
        let mut s = self.shared.store.lock().expect("store");
        let mut checkout = s.checkouts.get(checkout_id).cloned().expect("checkout");
        assert_eq!(checkout["status"], json!("pending"), "a checkout is paid once");
        let product_id = checkout["product"].as_str().unwrap_or_default().to_owned();
        let product = s.products.get(&product_id).cloned().expect("product");
        let units = checkout["units"].as_i64().unwrap_or(1);
        let amount = product.price_cents * units;
        let customer = json!({"id": random_id("cust"), "object": "customer",
            "email": checkout["customer"]["email"].as_str().unwrap_or("customer@example.com"), "country": "NL"});
        let transaction = transaction(amount);
        let order = json!({"id": random_id("ord"), "customer": customer["id"], "product": product_id,
            "amount": amount, "amount_paid": amount, "currency": "USD", "status": "paid",
            "type": if product.recurring.is_some() { "recurring" } else { "onetime" },
            "transaction": transaction["id"], "created_at": iso(chrono::Utc::now())});
        let product_object = json!({"id": product_id, "name": product.name, "price": product.price_cents,
            "currency": "USD", "billing_type": if product.recurring.is_some() { "recurring" } else { "onetime" },
            "billing_period": if product.recurring.is_some() { "every-month" } else { "once" }});
        checkout["status"] = json!("completed");
        checkout["order"] = order;
        checkout["product"] = product_object.clone();
        checkout["customer"] = customer.clone();
        let mut events = Vec::new();
        if let Some(period) = product.recurring {
            let now = chrono::Utc::now();
            let sub = json!({"id": random_id("sub"), "object": "subscription", "status": "active",
                "product": product_object, "customer": customer, "collection_method": "charge_automatically",
                "metadata": checkout["metadata"], "last_transaction_id": transaction["id"],
                "last_transaction": transaction, "current_period_start_date": iso(now),
                "current_period_end_date": iso(now + period), "canceled_at": null});
            let sub_id = sub["id"].as_str().unwrap_or_default().to_owned();
            checkout["subscription"] = sub.clone();
            s.subscriptions.insert(sub_id, sub.clone());
            events.push(event("checkout.completed", checkout.clone()));
            events.push(event("subscription.active", sub.clone()));
            events.push(event("subscription.paid", sub));
        } else {
            events.push(event("checkout.completed", checkout.clone()));
        }
        s.checkouts.insert(checkout_id.to_owned(), checkout);
        events
    }

    /// A renewal is charged: the period moves on; `subscription.paid` with a new transaction.
    pub fn renew(&self, sub_id: &str) -> Value {
        self.change(sub_id, |sub| {
            let price = sub["product"]["price"].as_i64().unwrap_or(0);
            let t = transaction(price);
            let start = sub["current_period_end_date"].clone();
            let end = start
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|e| iso(e.with_timezone(&chrono::Utc) + chrono::Duration::days(30)));
            sub["current_period_start_date"] = start;
            sub["current_period_end_date"] = json!(end);
            sub["last_transaction_id"] = t["id"].clone();
            sub["last_transaction"] = t;
            sub["status"] = json!("active");
            "subscription.paid"
        })
    }

    /// The merchant cancels now: `subscription.canceled`.
    pub fn cancel(&self, sub_id: &str) -> Value {
        self.change(sub_id, |sub| {
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(iso(chrono::Utc::now()));
            "subscription.canceled"
        })
    }

    /// The paid period is over: `subscription.expired` (Creem keeps the object's status).
    pub fn expire(&self, sub_id: &str) -> Value {
        self.change(sub_id, |sub| {
            sub["current_period_end_date"] = json!(iso(chrono::Utc::now() - chrono::Duration::seconds(1)));
            "subscription.expired"
        })
    }

    fn change(&self, sub_id: &str, f: impl FnOnce(&mut Value) -> &'static str) -> Value {
        let mut s = self.shared.store.lock().expect("store");
        let sub = s.subscriptions.get_mut(sub_id).expect("subscription");
        let kind = f(sub);
        event(kind, sub.clone())
    }

    /// A refund of `cents` of a transaction: `refund.created`.
    pub fn refund(&self, transaction_id: &str, cents: i64) -> Value {
        event(
            "refund.created",
            json!({"id": random_id("ref"), "object": "refund", "status": "succeeded", "refund_amount": cents,
                "refund_currency": "USD", "reason": "requested_by_customer",
                "transaction": {"id": transaction_id, "status": "refunded"}, "created_at": now_ms()}),
        )
    }

    /// A chargeback of `cents` of a transaction: `dispute.created`.
    pub fn dispute(&self, transaction_id: &str, cents: i64) -> Value {
        event(
            "dispute.created",
            json!({"id": random_id("disp"), "object": "dispute", "amount": cents, "currency": "USD",
                "transaction": {"id": transaction_id, "status": "chargeback"}, "created_at": now_ms()}),
        )
    }

    /// Delivers events to `url`, signed as Creem signs them; the statuses it answered.
    pub async fn deliver(url: &str, events: &[Value]) -> Vec<u16> {
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for e in events {
            let body = serde_json::to_vec(e).expect("event json");
            let sig = billing::creem::signature::sign(&body, WEBHOOK_SECRET);
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("creem-signature", sig)
                .body(body)
                .send()
                .await
                .expect("deliver");
            statuses.push(res.status().as_u16());
        }
        statuses
    }
}

impl Drop for FakeCreem {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn transaction(cents: i64) -> Value {
    json!({"id": random_id("tran"), "object": "transaction", "amount": cents, "amount_paid": cents,
        "currency": "USD", "status": "paid"})
}

/// One event as Creem sends it.
pub fn event(kind: &str, object: Value) -> Value {
    json!({"id": random_id("evt"), "eventType": kind, "created_at": now_ms(), "object": object})
}

impl Shared {
    /// The API key, a failure on demand, and the request's record: the refusal, if any.
    fn refuse(&self, headers: &HeaderMap, what: String) -> Option<Response> {
        let mut s = self.store.lock().expect("store");
        s.requests.push(what);
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
            return Some(error(StatusCode::FORBIDDEN, "Invalid API key"));
        }
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Some(error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"));
        }
        None
    }
}

async fn create_checkout(State(sh): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = sh.refuse(&headers, "POST /v1/checkouts".into()) {
        return r;
    }
    let mut s = sh.store.lock().expect("store");
    let product = body["product_id"].as_str().unwrap_or_default().to_owned();
    if !s.products.contains_key(&product) {
        return error(StatusCode::NOT_FOUND, "Product not found");
    }
    let request_id = body["request_id"].as_str().map(str::to_owned);
    if let Some(existing) = request_id.as_ref().and_then(|r| s.by_request.get(r)).and_then(|id| s.checkouts.get(id)) {
        return Json(existing.clone()).into_response();
    }
    let units = body.get("units").and_then(Value::as_i64).unwrap_or(1);
    if units < 1 {
        return error(StatusCode::BAD_REQUEST, "units must be positive");
    }
    let id = random_id("ch");
    let checkout = json!({"id": id, "object": "checkout", "status": "pending", "mode": "test",
        "product": product, "units": units, "request_id": request_id, "success_url": body["success_url"],
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})), "customer": body.get("customer").cloned().unwrap_or(Value::Null),
        "checkout_url": format!("{}/checkout/{id}", sh.base_url)});
    if let Some(r) = request_id {
        s.by_request.insert(r, id.clone());
    }
    s.checkouts.insert(id, checkout.clone());
    Json(checkout).into_response()
}

async fn get_subscription(
    State(sh): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let id = q.get("subscription_id").cloned().unwrap_or_default();
    if let Some(r) = sh.refuse(&headers, format!("GET /v1/subscriptions?subscription_id={id}")) {
        return r;
    }
    match sh.store.lock().expect("store").subscriptions.get(&id) {
        Some(sub) => Json(sub.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "Subscription not found"),
    }
}

async fn cancel_subscription(
    State(sh): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    if let Some(r) = sh.refuse(&headers, format!("POST /v1/subscriptions/{id}/cancel")) {
        return r;
    }
    let scheduled = body.is_some_and(|Json(b)| b["mode"] == json!("scheduled"));
    let (sub, webhook) = {
        let mut s = sh.store.lock().expect("store");
        let webhook = s.webhook.clone();
        let Some(sub) = s.subscriptions.get_mut(&id) else {
            return error(StatusCode::NOT_FOUND, "Subscription not found");
        };
        if scheduled {
            sub["status"] = json!("scheduled_cancel");
        } else {
            sub["status"] = json!("canceled");
            sub["canceled_at"] = json!(iso(chrono::Utc::now()));
        }
        (sub.clone(), webhook)
    };
    if let Some(url) = webhook {
        let kind = if scheduled { "subscription.scheduled_cancel" } else { "subscription.canceled" };
        // Delivered after this answer, as Creem's own delivery would be.
        let e = event(kind, sub.clone());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            FakeCreem::deliver(&url, &[e]).await;
        });
    }
    Json(sub).into_response()
}

async fn portal(State(sh): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(r) = sh.refuse(&headers, "POST /v1/customers/billing".into()) {
        return r;
    }
    let customer = body["customer_id"].as_str().unwrap_or_default();
    if customer.is_empty() {
        return error(StatusCode::BAD_REQUEST, "customer_id is required");
    }
    Json(json!({"customer_portal_link": format!("{}/portal/{customer}", sh.base_url)})).into_response()
}
