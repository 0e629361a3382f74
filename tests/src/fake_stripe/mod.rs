//! The project's stateful fake Stripe (Stripe itself cannot be reached from here).
//!
//! It speaks Stripe's wire format: form-encoded requests with bracketed keys, bearer secret
//! keys, Stripe's error envelope and status codes, and `Idempotency-Key` (same key and
//! parameters → the same response; other parameters → 400 `idempotency_error`). Objects are
//! built from Stripe's published fixtures (`fixtures/stripe/`), so clients that parse real
//! Stripe objects parse these. Test helpers play the customer (complete or expire a
//! checkout) and deliver the resulting events, signed, to the webhook endpoint.
//!
//! Covered: customers, checkout sessions (payment, subscription and setup modes, coupons),
//! payment intents (off-session, declines), setup intents, payment methods, billing portal
//! sessions, products, prices, coupons, subscriptions (update with proration, cancel now
//! or at period end, pause, resume), invoices, disputes and the event list
//! (`billing.rs`). Deliveries can be held and released duplicated and shuffled.

mod billing;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const FIXTURES: &str = include_str!("../../fixtures/stripe/fixtures.json");
pub const API_VERSION: &str = "2025-09-30.clover";

fn fixture(name: &str) -> Value {
    static PARSED: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str::<Value>(FIXTURES).unwrap_or(Value::Null))["resources"][name].clone()
}

fn random_id(prefix: &str) -> String {
    format!("{prefix}_test_{}", uuid::Uuid::new_v4().simple())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Default)]
struct Store {
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    /// Charges by PaymentIntent id.
    charges: HashMap<String, Value>,
    payment_methods: HashMap<String, Value>,
    /// Cards that decline every charge.
    declining: std::collections::HashSet<String>,
    payment_intents: HashMap<String, Value>,
    products: HashMap<String, Value>,
    prices: HashMap<String, Value>,
    coupons: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    invoices: HashMap<String, Value>,
    /// invoice id → its InvoicePayment (which names the PaymentIntent that paid it).
    invoice_payments: HashMap<String, Value>,
    disputes: HashMap<String, Value>,
    /// What a subscription-mode session will subscribe to: (price, quantity), metadata, coupon.
    session_plans: HashMap<String, billing::SessionPlan>,
    /// Every event emitted, oldest first (served by `GET /v1/events`).
    events: Vec<Value>,
    /// While set, events are kept in `held` instead of being delivered.
    holding: bool,
    held: Vec<Value>,
    /// key → (parameter fingerprint, status, body)
    idempotency: HashMap<String, (String, u16, Value)>,
    /// Decline invoices charged at once (see `FakeStripe::decline_invoices`).
    decline_invoices: bool,
    /// Answer this many API requests with a 500 before doing anything.
    fail_next: u32,
    /// Every API request as `METHOD path` with its Idempotency-Key.
    requests: Vec<(String, Option<String>)>,
    webhook: Option<(String, String)>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    base_url: String,
}

pub struct FakeStripe {
    pub base_url: String,
    pub secret_key: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

/// A Stripe error response.
fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Response {
    (status, Json(json!({"error": {"type": kind, "code": code, "message": message, "param": param}}))).into_response()
}

/// Stripe's form encoding, flattened: `metadata[order_id]=x` stays `metadata[order_id]`.
fn parse_form(body: &[u8]) -> BTreeMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default().into_iter().collect()
}

fn metadata(form: &BTreeMap<String, String>) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form {
        if let Some(key) = k.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')) {
            map.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    Value::Object(map)
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        FakeStripe::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> FakeStripe {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind fake stripe");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Shared { store: Arc::default(), base_url: base_url.clone() };
        let app = Router::new()
            .route("/v1/customers", post(create_customer))
            .route("/v1/customers/{id}", get(get_customer))
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(get_session))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
            .route("/pay/{id}", get(pay_page).post(pay))
            .route("/v1/payment_intents", post(create_payment_intent))
            .route("/v1/setup_intents", post(create_setup_intent))
            .route("/v1/billing_portal/sessions", post(create_portal_session))
            .route("/v1/payment_methods/{id}/detach", post(detach_payment_method))
            .merge(billing::routes())
            .fallback(|| async {
                error(StatusCode::NOT_FOUND, "invalid_request_error", None, "Unrecognized request URL.", None)
            })
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe { base_url, secret_key: "sk_test_tollgate_fake".into(), shared, task }
    }

    /// Where events go, signed with `secret`.
    pub fn deliver_to(&self, url: &str, secret: &str) {
        if let Ok(mut s) = self.shared.store.lock() {
            s.webhook = Some((url.to_owned(), secret.to_owned()));
        }
    }

    /// The next `n` API requests answer 500, as Stripe does when it is having a bad day.
    pub fn fail_next(&self, n: u32) {
        if let Ok(mut s) = self.shared.store.lock() {
            s.fail_next = n;
        }
    }

    pub fn sessions(&self) -> Vec<Value> {
        self.shared.store.lock().map(|s| s.sessions.values().cloned().collect()).unwrap_or_default()
    }

    /// The Checkout Session a checkout URL points at.
    pub fn session_of(&self, url: &str) -> Value {
        self.sessions().into_iter().find(|s| s["url"] == json!(url)).expect("the session behind the URL")
    }

    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.shared.store.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    /// The customer pays: the session completes and `checkout.session.completed` is
    /// delivered. Returns the event.
    pub async fn complete_session(&self, id: &str) -> Value {
        self.shared.complete_session(id).await
    }

    /// The session's time runs out: `checkout.session.expired`.
    pub async fn expire(&self, id: &str) -> Value {
        self.shared.expire(id).await
    }

    /// The customer saves a card (as Stripe.js or a setup session would): the card is
    /// attached to `customer` and `payment_method.attached` delivered. A `declining` card
    /// fails every charge with `card_declined`. Returns the card's id.
    pub async fn attach_card(&self, customer: &str, last4: &str, declining: bool) -> String {
        let pm = {
            let mut s = self.shared.store.lock().expect("store");
            let mut pm = fixture("payment_method");
            let id = random_id("pm");
            pm["id"] = json!(id);
            pm["customer"] = json!(customer);
            pm["created"] = json!(now());
            pm["card"]["last4"] = json!(last4);
            if declining {
                s.declining.insert(id.clone());
            }
            s.payment_methods.insert(id, pm.clone());
            pm
        };
        let id = pm["id"].as_str().unwrap_or_default().to_owned();
        self.shared.emit("payment_method.attached", pm, json!({"customer": null})).await;
        id
    }

    /// The merchant refunds `cents` of a completed session's payment: `charge.refunded`
    /// with the charge's cumulative `amount_refunded`.
    pub async fn refund(&self, session_id: &str, cents: i64) -> Value {
        let (intent, amount, customer) = {
            let s = self.shared.store.lock().expect("store");
            let session = s.sessions.get(session_id).expect("known session");
            let intent = session["payment_intent"].as_str().expect("a paid session").to_owned();
            (intent, session["amount_total"].clone(), session["customer"].clone())
        };
        self.refund_intent(&intent, amount, customer, cents).await
    }

    /// The merchant refunds `cents` of a paid invoice. The charge names only its
    /// PaymentIntent, as in API versions since 2025-03-31 (no `invoice` field).
    pub async fn refund_invoice(&self, invoice_id: &str, cents: i64) -> Value {
        let (intent, amount, customer) = self.invoice_intent(invoice_id);
        self.refund_intent(&intent, amount, customer, cents).await
    }

    /// The PaymentIntent that paid an invoice, with the invoice's amount and customer.
    fn invoice_intent(&self, invoice_id: &str) -> (String, Value, Value) {
        let s = self.shared.store.lock().expect("store");
        let payment = s.invoice_payments.get(invoice_id).expect("a paid invoice");
        let invoice = &s.invoices[invoice_id];
        let intent = payment["payment"]["payment_intent"].as_str().expect("an intent").to_owned();
        (intent, invoice["amount_paid"].clone(), invoice["customer"].clone())
    }

    async fn refund_intent(&self, intent: &str, amount: Value, customer: Value, cents: i64) -> Value {
        let (charge, previous) = {
            let mut s = self.shared.store.lock().expect("store");
            let charge = s.charges.entry(intent.to_owned()).or_insert_with(|| {
                let mut c = fixture("charge");
                c["id"] = json!(random_id("ch"));
                c["payment_intent"] = json!(intent);
                c["amount"] = amount.clone();
                c["amount_captured"] = amount.clone();
                c["captured"] = json!(true);
                c["amount_refunded"] = json!(0);
                c["customer"] = customer.clone();
                c
            });
            let before = charge["amount_refunded"].as_i64().unwrap_or(0);
            let after = (before + cents).min(charge["amount"].as_i64().unwrap_or(0));
            charge["amount_refunded"] = json!(after);
            charge["refunded"] = json!(after == charge["amount"].as_i64().unwrap_or(0));
            (charge.clone(), json!({"amount_refunded": before, "refunded": false}))
        };
        self.shared.emit("charge.refunded", charge, previous).await
    }
}

impl Shared {
    async fn complete_session(&self, id: &str) -> Value {
        let subscription_mode =
            self.store.lock().is_ok_and(|s| s.sessions.get(id).is_some_and(|x| x["mode"] == "subscription"));
        if subscription_mode {
            return self.complete_subscription_session(id).await;
        }
        let (session, previous) = {
            let mut s = self.store.lock().expect("store");
            let session = s.sessions.get_mut(id).expect("known session");
            let previous = json!({"status": session["status"], "payment_status": session["payment_status"]});
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            session["payment_intent"] = json!(random_id("pi"));
            (session.clone(), previous)
        };
        self.emit("checkout.session.completed", session, previous).await
    }

    async fn expire(&self, id: &str) -> Value {
        let (session, previous) = {
            let mut s = self.store.lock().expect("store");
            let session = s.sessions.get_mut(id).expect("known session");
            let previous = json!({"status": session["status"]});
            session["status"] = json!("expired");
            (session.clone(), previous)
        };
        self.emit("checkout.session.expired", session, previous).await
    }

    async fn emit(&self, event_type: &str, object: Value, previous: Value) -> Value {
        let mut event = fixture("event");
        event["id"] = json!(random_id("evt"));
        event["api_version"] = json!(API_VERSION);
        event["created"] = json!(now());
        event["type"] = json!(event_type);
        event["pending_webhooks"] = json!(1);
        event["data"] = json!({"object": object, "previous_attributes": previous});
        let held = self.store.lock().map(|mut s| {
            s.events.push(event.clone());
            if s.holding {
                s.held.push(event.clone());
            }
            s.holding
        });
        if held.unwrap_or(false) {
            return event;
        }
        self.deliver(&event).await;
        event
    }

    /// Delivers one event, signed, to the webhook, as Stripe does.
    async fn deliver(&self, event: &Value) {
        let target = self.store.lock().ok().and_then(|s| s.webhook.clone());
        if let Some((url, secret)) = target {
            let body = serde_json::to_vec(&event).expect("event json");
            let signature = crate::events::signature(&body, now(), &secret);
            let client = reqwest::Client::new();
            let res = client
                .post(&url)
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(body)
                .send()
                .await;
            assert!(res.is_ok_and(|r| r.status().is_success()), "webhook delivery accepted");
        }
    }
}

/// The hosted checkout page, for the quick start: a button that pays.
async fn pay_page(Path(id): Path<String>) -> axum::response::Html<String> {
    axum::response::Html(format!(
        "<!doctype html><title>Fake Stripe Checkout</title><h1>Fake Stripe Checkout</h1>\
         <p>Session {id}</p><form method=post><button>Pay</button></form>"
    ))
}

async fn pay(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let known = shared.store.lock().is_ok_and(|s| s.sessions.contains_key(&id));
    if !known {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    }
    shared.complete_session(&id).await;
    // As Stripe Checkout does: back to the session's success URL.
    let back = shared.store.lock().ok().and_then(|s| s.sessions.get(&id)?["success_url"].as_str().map(str::to_owned));
    match back {
        Some(url) if !url.is_empty() => {
            axum::response::Redirect::to(&url.replace("{CHECKOUT_SESSION_ID}", &id)).into_response()
        }
        _ => "Paid. You can close this page.".into_response(),
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Authentication, injected failures, request log and `Idempotency-Key` around a handler.
fn handle(
    shared: &Shared,
    headers: &HeaderMap,
    method_path: &str,
    body: &[u8],
    run: impl FnOnce(&mut Store, &BTreeMap<String, String>) -> (StatusCode, Value),
) -> Response {
    let authorized =
        headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer sk_test_"));
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "invalid_request_error", None, "Invalid API Key provided.", None);
    }
    let Ok(mut store) = shared.store.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, "lock poisoned", None);
    };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    store.requests.push((method_path.to_owned(), key.clone()));
    if store.fail_next > 0 {
        store.fail_next -= 1;
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, "An unknown error occurred.", None);
    }
    let form = parse_form(body);
    let fingerprint = format!("{method_path}?{}", serde_urlencoded::to_string(&form).unwrap_or_default());
    if let Some((seen, status, body)) = key.as_ref().and_then(|k| store.idempotency.get(k)) {
        if *seen != fingerprint {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                None,
            );
        }
        let mut res = (StatusCode::from_u16(*status).unwrap_or(StatusCode::OK), Json(body.clone())).into_response();
        res.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
        return res;
    }
    let (status, body) = run(&mut store, &form);
    if let Some(key) = key {
        store.idempotency.insert(key, (fingerprint, status.as_u16(), body.clone()));
    }
    (status, Json(body)).into_response()
}

/// Stripe's 404 for an object id it does not know.
fn no_such(kind: &str, id: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        err_body("invalid_request_error", "resource_missing", &format!("No such {kind}: '{id}'"), Some("id")),
    )
}

/// A stored object by id, or Stripe's 404.
fn lookup(objects: &HashMap<String, Value>, kind: &str, id: &str) -> (StatusCode, Value) {
    match objects.get(id) {
        Some(o) => (StatusCode::OK, o.clone()),
        None => no_such(kind, id),
    }
}

/// Stripe's answer for a customer id it does not know.
fn no_such_customer(id: &str, param: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        err_body("invalid_request_error", "resource_missing", &format!("No such customer: '{id}'"), Some(param)),
    )
}

fn err_body(kind: &str, code: &str, message: &str, param: Option<&str>) -> Value {
    json!({"error": {"type": kind, "code": code, "message": message, "param": param}})
}

async fn create_customer(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    handle(&shared, &headers, "POST /v1/customers", &body, |store, form| {
        let mut customer = fixture("customer");
        let id = random_id("cus");
        customer["id"] = json!(id);
        customer["created"] = json!(now());
        customer["email"] = form.get("email").map_or(Value::Null, |e| json!(e));
        customer["name"] = form.get("name").map_or(Value::Null, |e| json!(e));
        customer["metadata"] = metadata(form);
        customer["discount"] = Value::Null;
        store.customers.insert(id, customer.clone());
        (StatusCode::OK, customer)
    })
}

async fn get_customer(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/customers", b"", |store, _| lookup(&store.customers, "customer", &id))
}

async fn create_session(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let base_url = shared.base_url.clone();
    handle(&shared, &headers, "POST /v1/checkout/sessions", &body, move |store, form| {
        let missing = |p: &str| {
            (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "parameter_missing",
                    &format!("Missing required param: {p}."),
                    Some(p),
                ),
            )
        };
        let Some(mode) = form.get("mode") else { return missing("mode") };
        if !["payment", "subscription", "setup"].contains(&mode.as_str()) {
            return (
                StatusCode::BAD_REQUEST,
                err_body("invalid_request_error", "parameter_invalid_string", "Invalid mode", Some("mode")),
            );
        }
        let Some(success_url) = form.get("success_url") else { return missing("success_url") };
        if let Some(customer) = form.get("customer").filter(|c| !store.customers.contains_key(*c)) {
            return no_such_customer(customer, "customer");
        }
        let mut total = 0i64;
        let mut currency = None;
        let mut items = Vec::new();
        for i in 0.. {
            let p = |f: &str| form.get(&format!("line_items[{i}]{f}"));
            let Some(quantity) = p("[quantity]") else { break };
            let Ok(quantity) = quantity.parse::<i64>() else {
                return missing(&format!("line_items[{i}][quantity]"));
            };
            let price = match p("[price]") {
                Some(id) => match store.prices.get(id) {
                    Some(price) => price.clone(),
                    None => {
                        return (
                            StatusCode::BAD_REQUEST,
                            err_body(
                                "invalid_request_error",
                                "resource_missing",
                                &format!("No such price: '{id}'"),
                                Some(&format!("line_items[{i}][price]")),
                            ),
                        );
                    }
                },
                None => {
                    let Some(unit) = p("[price_data][unit_amount]").and_then(|a| a.parse::<i64>().ok()) else {
                        return missing(&format!("line_items[{i}][price_data][unit_amount]"));
                    };
                    let Some(cur) = p("[price_data][currency]") else {
                        return missing(&format!("line_items[{i}][price_data][currency]"));
                    };
                    let product = match (p("[price_data][product]"), p("[price_data][product_data][name]")) {
                        (Some(id), _) => id.clone(),
                        (None, Some(name)) => store.new_product(name, json!({})),
                        (None, None) => return missing(&format!("line_items[{i}][price_data][product_data]")),
                    };
                    let interval = p("[price_data][recurring][interval]").map(String::as_str);
                    store.new_price(&product, unit, cur, interval, json!({}))
                }
            };
            let recurring = !price["recurring"].is_null();
            if recurring != (mode == "subscription") {
                let message = if recurring {
                    "You specified `payment` mode but passed a recurring price."
                } else {
                    "You must provide at least one recurring price in `subscription` mode when using prices."
                };
                return (
                    StatusCode::BAD_REQUEST,
                    err_body("invalid_request_error", "parameter_invalid", message, Some("line_items")),
                );
            }
            currency = price["currency"].as_str().map(str::to_owned).or(currency);
            total += price["unit_amount"].as_i64().unwrap_or(0) * quantity;
            items.push((price, quantity));
        }
        if mode != "setup" && items.is_empty() {
            return missing("line_items");
        }
        let coupon = match form.get("discounts[0][coupon]") {
            Some(id) => match store.coupons.get(id) {
                Some(c) if c["valid"] == json!(true) => Some(c.clone()),
                _ => {
                    return (
                        StatusCode::BAD_REQUEST,
                        err_body(
                            "invalid_request_error",
                            "resource_missing",
                            &format!("No such coupon: '{id}'"),
                            Some("discounts[0][coupon]"),
                        ),
                    );
                }
            },
            None => None,
        };
        let discount = coupon.as_ref().map_or(0, |c| billing::discount(c, total));
        if mode == "setup" && form.get("currency").is_none() && form.get("payment_method_types[0]").is_none() {
            return missing("currency");
        }
        let currency = currency.or_else(|| form.get("currency").cloned());
        let id = random_id("cs");
        let mut session = fixture("checkout.session");
        session["id"] = json!(id);
        session["url"] = json!(format!("{base_url}/pay/{id}"));
        session["mode"] = json!(mode);
        session["status"] = json!("open");
        session["payment_status"] = json!(if mode == "setup" { "no_payment_required" } else { "unpaid" });
        session["payment_intent"] = Value::Null;
        session["customer"] = form.get("customer").map_or(Value::Null, |c| json!(c));
        session["client_reference_id"] = form.get("client_reference_id").map_or(Value::Null, |c| json!(c));
        session["metadata"] = metadata(form);
        session["success_url"] = json!(success_url);
        session["cancel_url"] = form.get("cancel_url").map_or(Value::Null, |c| json!(c));
        session["amount_subtotal"] = json!(total);
        session["amount_total"] = json!(total - discount);
        session["currency"] = currency.map_or(Value::Null, |c| json!(c));
        session["created"] = json!(now());
        session["expires_at"] = json!(now() + 24 * 3600);
        session["shipping_cost"] = Value::Null;
        session["subscription"] = Value::Null;
        session["invoice"] = Value::Null;
        session["total_details"] = json!({"amount_discount": discount, "amount_shipping": 0, "amount_tax": 0});
        if mode == "subscription" {
            let metadata = billing::bracketed(form, "subscription_data[metadata]");
            store.session_plans.insert(id.clone(), billing::SessionPlan { items, metadata, coupon });
        }
        store.sessions.insert(id, session.clone());
        (StatusCode::OK, session)
    })
}

async fn get_session(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/checkout/sessions", b"", |store, _| {
        lookup(&store.sessions, "checkout.session", &id)
    })
}

async fn expire_session(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "POST /v1/checkout/sessions/expire", b"", |store, _| match store.sessions.get_mut(&id) {
        Some(s) if s["status"] == json!("open") => {
            s["status"] = json!("expired");
            (StatusCode::OK, s.clone())
        }
        Some(_) => (
            StatusCode::BAD_REQUEST,
            err_body("invalid_request_error", "checkout_session_not_open", "Only open sessions can be expired.", None),
        ),
        None => no_such("checkout.session", &id),
    })
}

async fn create_payment_intent(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // A confirmed intent is announced as Stripe does: `payment_intent.succeeded` or
    // `.payment_failed`, after the answer to the request that confirmed it.
    let mut outcome: Option<(&'static str, Value)> = None;
    let res = handle(&shared, &headers, "POST /v1/payment_intents", &body, |store, form| {
        let missing = |p: &str| {
            (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "parameter_missing",
                    &format!("Missing required param: {p}."),
                    Some(p),
                ),
            )
        };
        let Some(amount) = form.get("amount").and_then(|a| a.parse::<i64>().ok()) else { return missing("amount") };
        let Some(currency) = form.get("currency") else { return missing("currency") };
        let customer = form.get("customer");
        if let Some(c) = customer.filter(|c| !store.customers.contains_key(*c)) {
            return no_such_customer(c, "customer");
        }
        let pm = form.get("payment_method");
        let owned = pm
            .and_then(|p| store.payment_methods.get(p))
            .is_some_and(|p| p["customer"].as_str() == customer.map(String::as_str));
        if pm.is_some() && !owned {
            return (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "resource_missing",
                    "No such PaymentMethod for this customer",
                    Some("payment_method"),
                ),
            );
        }
        let mut intent = fixture("payment_intent");
        let id = random_id("pi");
        intent["id"] = json!(id);
        intent["amount"] = json!(amount);
        intent["currency"] = json!(currency);
        intent["customer"] = customer.map_or(Value::Null, |c| json!(c));
        intent["payment_method"] = pm.map_or(Value::Null, |p| json!(p));
        intent["metadata"] = metadata(form);
        intent["created"] = json!(now());
        intent["last_payment_error"] = Value::Null;
        let confirm = form.get("confirm").is_some_and(|c| c == "true");
        if confirm && pm.is_some_and(|p| store.declining.contains(p)) {
            intent["status"] = json!("requires_payment_method");
            store.payment_intents.insert(id, intent.clone());
            outcome = Some(("payment_intent.payment_failed", intent.clone()));
            let mut body = err_body("card_error", "card_declined", "Your card was declined.", None);
            body["error"]["decline_code"] = json!("generic_decline");
            body["error"]["payment_intent"] = intent;
            return (StatusCode::PAYMENT_REQUIRED, body);
        }
        intent["status"] = json!(if confirm && pm.is_some() { "succeeded" } else { "requires_confirmation" });
        intent["amount_received"] = json!(if confirm && pm.is_some() { amount } else { 0 });
        intent["latest_charge"] = if confirm && pm.is_some() { json!(random_id("ch")) } else { Value::Null };
        store.payment_intents.insert(id, intent.clone());
        if intent["status"] == json!("succeeded") {
            outcome = Some(("payment_intent.succeeded", intent.clone()));
        }
        (StatusCode::OK, intent)
    });
    if let Some((kind, intent)) = outcome {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.emit(kind, intent, json!({"status": "requires_confirmation"})).await;
        });
    }
    res
}

async fn create_setup_intent(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    handle(&shared, &headers, "POST /v1/setup_intents", &body, |store, form| {
        let customer = form.get("customer");
        if let Some(c) = customer.filter(|c| !store.customers.contains_key(*c)) {
            return no_such_customer(c, "customer");
        }
        let mut intent = fixture("setup_intent");
        let id = random_id("seti");
        intent["client_secret"] = json!(format!("{id}_secret_{}", uuid::Uuid::new_v4().simple()));
        intent["id"] = json!(id);
        intent["customer"] = customer.map_or(Value::Null, |c| json!(c));
        intent["usage"] = json!(form.get("usage").map_or("off_session", String::as_str));
        intent["status"] = json!("requires_payment_method");
        intent["created"] = json!(now());
        intent["metadata"] = metadata(form);
        intent["last_setup_error"] = Value::Null;
        (StatusCode::OK, intent)
    })
}

async fn create_portal_session(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let base_url = shared.base_url.clone();
    handle(&shared, &headers, "POST /v1/billing_portal/sessions", &body, move |store, form| {
        let Some(customer) = form.get("customer") else {
            return (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "parameter_missing",
                    "Missing required param: customer.",
                    Some("customer"),
                ),
            );
        };
        if !store.customers.contains_key(customer) {
            return no_such_customer(customer, "customer");
        }
        let mut session = fixture("billing_portal.session");
        let id = random_id("bps");
        session["url"] = json!(format!("{base_url}/portal/{id}"));
        session["id"] = json!(id);
        session["customer"] = json!(customer);
        session["return_url"] = form.get("return_url").map_or(Value::Null, |u| json!(u));
        session["flow"] = Value::Null;
        session["created"] = json!(now());
        (StatusCode::OK, session)
    })
}

async fn detach_payment_method(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut detached = None;
    let res = handle(&shared, &headers, "POST /v1/payment_methods/detach", b"", |store, _| {
        match store.payment_methods.get_mut(&id) {
            Some(pm) if !pm["customer"].is_null() => {
                let previous = json!({"customer": pm["customer"]});
                pm["customer"] = Value::Null;
                detached = Some((pm.clone(), previous));
                (StatusCode::OK, pm.clone())
            }
            Some(_) => (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "payment_method_unexpected_state",
                    "The payment method is not attached to a customer.",
                    None,
                ),
            ),
            None => (
                StatusCode::NOT_FOUND,
                err_body(
                    "invalid_request_error",
                    "resource_missing",
                    &format!("No such PaymentMethod: '{id}'"),
                    Some("payment_method"),
                ),
            ),
        }
    });
    if let Some((pm, previous)) = detached {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.emit("payment_method.detached", pm, previous).await;
        });
    }
    res
}

impl FakeStripe {
    /// Calls the fake's API as a Stripe client would (the Dashboard, the customer portal),
    /// form-encoded: what it does is seen by the system only through the events it sends.
    pub async fn api(&self, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> Value {
        let res = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .form(form)
            .send()
            .await
            .expect("fake stripe answers");
        res.json().await.unwrap_or(Value::Null)
    }
}

/// An app (api + worker) wired to a fresh fake Stripe, whose events it receives.
pub async fn app_with_fake_stripe() -> (crate::TestApp, FakeStripe) {
    app_with_fake_stripe_and(&[]).await
}

/// The same, with `extra` settings.
pub async fn app_with_fake_stripe_and(extra: &[(&str, &str)]) -> (crate::TestApp, FakeStripe) {
    let stripe = FakeStripe::start().await;
    let mut env = vec![
        ("STRIPE_SECRET_KEY".to_owned(), stripe.secret_key.clone()),
        ("STRIPE_API_BASE".to_owned(), stripe.base_url.clone()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let app = crate::TestApp::with(crate::TestOptions { env, ..Default::default() }).await;
    stripe.deliver_to(&format!("{}/payment/webhook/stripe", app.base_url), crate::events::WEBHOOK_SECRET);
    (app, stripe)
}
