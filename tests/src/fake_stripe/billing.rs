//! The fake's Billing side: products, prices, coupons, subscriptions, invoices, disputes
//! and the event list, plus the helpers with which tests play time and the customer's bank
//! (a renewal paid or failed, a dispute opened and closed).
//!
//! A period is 30 days for monthly prices and 365 for yearly ones. Invoices follow
//! Stripe's 2025 shape: the subscription is at `parent.subscription_details.subscription`,
//! the price at `lines.data[].pricing.price_details.price`, the period on the items.

use super::{FakeStripe, Shared, Store, err_body, fixture, handle, lookup, metadata, no_such, now, random_id};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// What a subscription-mode Checkout Session subscribes to once paid.
#[derive(Clone)]
pub(super) struct SessionPlan {
    pub items: Vec<(Value, i64)>,
    pub metadata: Value,
    pub coupon: Option<Value>,
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/products", post(create_product))
        .route("/v1/prices", post(create_price))
        .route("/v1/prices/{id}", get(get_price))
        .route("/v1/coupons", post(create_coupon))
        .route("/v1/coupons/{id}", get(get_coupon))
        .route("/v1/subscriptions/{id}", get(get_subscription).post(update_subscription).delete(cancel_subscription))
        .route("/v1/subscriptions/{id}/resume", post(resume_subscription))
        .route("/v1/invoices/{id}", get(get_invoice))
        .route("/v1/invoice_payments", get(list_invoice_payments))
        .route("/v1/events", get(list_events))
}

/// `prefix[key]=v` pairs of a form as an object.
pub(super) fn bracketed(form: &BTreeMap<String, String>, prefix: &str) -> Value {
    let mut map = serde_json::Map::new();
    for (k, v) in form {
        if let Some(key) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('[')).and_then(|r| r.strip_suffix(']')) {
            map.insert(key.to_owned(), json!(v));
        }
    }
    Value::Object(map)
}

/// The discount a coupon gives on `total` cents.
pub(super) fn discount(coupon: &Value, total: i64) -> i64 {
    if let Some(off) = coupon["amount_off"].as_i64() {
        return off.min(total);
    }
    // Stripe keeps percent_off as a decimal; whole percents are all the fake needs.
    let percent = coupon["percent_off"].as_f64().unwrap_or(0.0).round() as i64;
    (total * percent / 100).min(total)
}

fn period_secs(price: &Value) -> i64 {
    if price["recurring"]["interval"] == json!("year") { 365 * 86_400 } else { 30 * 86_400 }
}

fn missing(param: &str) -> (StatusCode, Value) {
    (
        StatusCode::BAD_REQUEST,
        err_body(
            "invalid_request_error",
            "parameter_missing",
            &format!("Missing required param: {param}."),
            Some(param),
        ),
    )
}

impl Store {
    pub(super) fn new_product(&mut self, name: &str, metadata: Value) -> String {
        let mut product = fixture("product");
        let id = random_id("prod");
        product["id"] = json!(id);
        product["name"] = json!(name);
        product["description"] = Value::Null;
        product["default_price"] = Value::Null;
        product["package_dimensions"] = Value::Null;
        product["metadata"] = metadata;
        product["created"] = json!(now());
        product["updated"] = json!(now());
        self.products.insert(id.clone(), product);
        id
    }

    pub(super) fn new_price(
        &mut self,
        product: &str,
        unit: i64,
        currency: &str,
        interval: Option<&str>,
        metadata: Value,
    ) -> Value {
        let mut price = fixture("price");
        let id = random_id("price");
        price["id"] = json!(id);
        price["product"] = json!(product);
        price["unit_amount"] = json!(unit);
        price["unit_amount_decimal"] = json!(unit.to_string());
        price["currency"] = json!(currency);
        price["metadata"] = metadata;
        price["transform_quantity"] = Value::Null;
        price["custom_unit_amount"] = Value::Null;
        price["created"] = json!(now());
        match interval {
            Some(i) => {
                price["type"] = json!("recurring");
                price["recurring"] = json!({"interval": i, "interval_count": 1, "meter": null,
                    "usage_type": "licensed", "trial_period_days": null});
            }
            None => {
                price["type"] = json!("one_time");
                price["recurring"] = Value::Null;
            }
        }
        self.prices.insert(id, price.clone());
        price
    }

    fn subscription_item(subscription: &str, price: &Value, quantity: i64, start: i64) -> Value {
        let mut item = fixture("subscription")["items"]["data"][0].clone();
        item["id"] = json!(random_id("si"));
        item["price"] = price.clone();
        item["quantity"] = json!(quantity);
        item["subscription"] = json!(subscription);
        item["created"] = json!(start);
        item["current_period_start"] = json!(start);
        item["current_period_end"] = json!(start + period_secs(price));
        item["billing_thresholds"] = Value::Null;
        let mut plan = item["plan"].clone();
        plan["id"] = price["id"].clone();
        plan["amount"] = price["unit_amount"].clone();
        plan["amount_decimal"] = price["unit_amount_decimal"].clone();
        plan["currency"] = price["currency"].clone();
        plan["interval"] = price["recurring"]["interval"].clone();
        plan["interval_count"] = json!(1);
        plan["billing_scheme"] = json!("per_unit");
        plan["product"] = price["product"].clone();
        plan["transform_usage"] = Value::Null;
        plan["metadata"] = json!({});
        item["plan"] = plan;
        item
    }

    /// A subscription from a paid subscription-mode session, with its first invoice paid.
    fn start_subscription(&mut self, customer: &Value, plan: &SessionPlan) -> (Value, Value) {
        let id = random_id("sub");
        let start = now();
        let mut sub = fixture("subscription");
        sub["id"] = json!(id);
        sub["customer"] = customer.clone();
        sub["status"] = json!("active");
        sub["metadata"] = plan.metadata.clone();
        sub["created"] = json!(start);
        sub["start_date"] = json!(start);
        sub["billing_cycle_anchor"] = json!(start);
        for field in [
            "cancel_at",
            "canceled_at",
            "ended_at",
            "trial_end",
            "trial_start",
            "pause_collection",
            "pending_update",
            "schedule",
            "test_clock",
            "default_payment_method",
            "latest_invoice",
        ] {
            sub[field] = Value::Null;
        }
        sub["cancel_at_period_end"] = json!(false);
        sub["discounts"] = json!([]);
        sub["currency"] = json!("usd");
        let data: Vec<Value> = plan.items.iter().map(|(p, q)| Store::subscription_item(&id, p, *q, start)).collect();
        sub["items"] = json!({"object": "list", "data": data, "has_more": false,
            "url": format!("/v1/subscription_items?subscription={id}")});
        let gross: i64 = plan.items.iter().map(|(p, q)| p["unit_amount"].as_i64().unwrap_or(0) * q).sum();
        let amount = gross - plan.coupon.as_ref().map_or(0, |c| discount(c, gross));
        let invoice = self.new_invoice(&sub, "subscription_create", amount, true);
        sub["latest_invoice"] = invoice["id"].clone();
        self.subscriptions.insert(id, sub.clone());
        (sub, invoice)
    }

    /// An invoice of `subscription` for its current period.
    fn new_invoice(&mut self, sub: &Value, reason: &str, amount: i64, paid: bool) -> Value {
        let item = &sub["items"]["data"][0];
        let (start, end) = (item["current_period_start"].clone(), item["current_period_end"].clone());
        let id = random_id("in");
        let mut inv = fixture("invoice");
        inv["id"] = json!(id);
        inv["customer"] = sub["customer"].clone();
        inv["billing_reason"] = json!(reason);
        inv["amount_due"] = json!(amount);
        inv["amount_paid"] = json!(if paid { amount } else { 0 });
        inv["amount_remaining"] = json!(if paid { 0 } else { amount });
        inv["total"] = json!(amount);
        inv["subtotal"] = json!(amount);
        inv["status"] = json!(if paid { "paid" } else { "open" });
        inv["attempted"] = json!(true);
        inv["attempt_count"] = json!(1);
        inv["created"] = json!(now());
        inv["period_start"] = start.clone();
        inv["period_end"] = end.clone();
        inv["last_finalization_error"] = Value::Null;
        inv["from_invoice"] = Value::Null;
        inv["parent"] = json!({"type": "subscription_details", "quote_details": null,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]}});
        let mut line = inv["lines"]["data"][0].clone();
        line["id"] = json!(random_id("il"));
        line["invoice"] = json!(id);
        line["amount"] = json!(amount);
        line["period"] = json!({"start": start, "end": end});
        line["quantity"] = item["quantity"].clone();
        line["pricing"] = json!({"type": "price_details", "unit_amount_decimal": item["price"]["unit_amount_decimal"],
            "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]}});
        line["parent"] = json!({"type": "subscription_item_details", "invoice_item_details": null,
            "subscription_item_details": {"invoice_item": null, "proration": reason == "subscription_update",
                "proration_details": {"credited_items": null}, "subscription": sub["id"], "subscription_item": item["id"]}});
        inv["lines"] = json!({"object": "list", "data": [line], "has_more": false,
            "url": format!("/v1/invoices/{id}/lines")});
        if paid {
            self.record_invoice_payment(&inv);
        }
        self.invoices.insert(id, inv.clone());
        inv
    }

    /// A paid invoice's InvoicePayment: the PaymentIntent that paid it.
    fn record_invoice_payment(&mut self, inv: &Value) {
        let id = inv["id"].as_str().unwrap_or_default().to_owned();
        let paid = inv["amount_paid"].clone();
        let payment = json!({
            "id": random_id("inpay"), "object": "invoice_payment", "amount_paid": paid, "amount_requested": paid,
            "created": now(), "currency": "usd", "invoice": id, "is_default": true, "livemode": false,
            "payment": {"type": "payment_intent", "payment_intent": random_id("pi")},
            "status": "paid", "status_transitions": {"canceled_at": null, "paid_at": now()},
        });
        self.invoice_payments.insert(id, payment);
    }

    /// Moves a subscription to its next period; returns the previous attributes.
    fn advance_period(&mut self, id: &str) -> Option<Value> {
        let sub = self.subscriptions.get_mut(id)?;
        let item = &mut sub["items"]["data"][0];
        let end = item["current_period_end"].as_i64()?;
        let previous = json!({"items": {"data": [{"current_period_start": item["current_period_start"],
            "current_period_end": end}]}});
        item["current_period_start"] = json!(end);
        item["current_period_end"] = json!(end + period_secs(&item["price"]));
        Some(previous)
    }
}

impl Shared {
    pub(super) async fn complete_subscription_session(&self, id: &str) -> Value {
        let (session, previous, sub, invoice) = {
            let mut s = self.store.lock().expect("store");
            let plan = s.session_plans.get(id).cloned().expect("a subscription session");
            let customer = s.sessions.get(id).map(|x| x["customer"].clone()).expect("known session");
            let (sub, invoice) = s.start_subscription(&customer, &plan);
            let session = s.sessions.get_mut(id).expect("known session");
            let previous = json!({"status": session["status"], "payment_status": session["payment_status"]});
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            session["subscription"] = sub["id"].clone();
            session["invoice"] = invoice["id"].clone();
            (session.clone(), previous, sub, invoice)
        };
        // Stripe's order: the subscription, its first invoice, then the session.
        self.emit("customer.subscription.created", sub, json!({})).await;
        self.emit("invoice.paid", invoice, json!({"status": "open"})).await;
        self.emit("checkout.session.completed", session, previous).await
    }

    async fn emit_subscription_update(&self, id: &str, previous: Value) {
        let sub = self.store.lock().ok().and_then(|s| s.subscriptions.get(id).cloned());
        if let Some(sub) = sub {
            let kind = if sub["status"] == json!("canceled") {
                "customer.subscription.deleted"
            } else {
                "customer.subscription.updated"
            };
            self.emit(kind, sub, previous).await;
        }
    }
}

impl FakeStripe {
    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.shared.store.lock().ok().and_then(|s| s.subscriptions.get(id).cloned())
    }

    pub fn subscriptions(&self) -> Vec<Value> {
        self.shared.store.lock().map(|s| s.subscriptions.values().cloned().collect()).unwrap_or_default()
    }

    /// From now on invoices charged at once (an upgrade's proration) are declined.
    pub fn decline_invoices(&self, decline: bool) {
        if let Ok(mut s) = self.shared.store.lock() {
            s.decline_invoices = decline;
        }
    }

    pub fn invoices(&self) -> Vec<Value> {
        self.shared.store.lock().map(|s| s.invoices.values().cloned().collect()).unwrap_or_default()
    }

    /// Every event emitted so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.store.lock().map(|s| s.events.clone()).unwrap_or_default()
    }

    /// From now on events are kept back instead of delivered (see [`FakeStripe::release`]).
    pub fn hold_deliveries(&self) {
        if let Ok(mut s) = self.shared.store.lock() {
            s.holding = true;
        }
    }

    /// Delivers the held events, each `copies` times, in a shuffled order when `shuffle`:
    /// the way Stripe's retries and parallel deliveries reach an endpoint. Resumes direct
    /// delivery. Returns how many deliveries were made.
    pub async fn release(&self, copies: usize, shuffle: bool) -> usize {
        use rand::seq::SliceRandom;
        let mut events: Vec<Value> = {
            let Ok(mut s) = self.shared.store.lock() else { return 0 };
            s.holding = false;
            std::mem::take(&mut s.held)
        };
        events = events.into_iter().flat_map(|e| std::iter::repeat_n(e, copies)).collect();
        if shuffle {
            events.shuffle(&mut rand::rng());
        }
        for e in &events {
            self.shared.deliver(e).await;
        }
        events.len()
    }

    /// Drops the held events as if their deliveries were lost for good (reconciliation finds
    /// them in `GET /v1/events`). Resumes direct delivery.
    pub fn lose_held(&self) -> Vec<Value> {
        let Ok(mut s) = self.shared.store.lock() else { return Vec::new() };
        s.holding = false;
        std::mem::take(&mut s.held)
    }

    /// The period ends and the renewal invoice is paid: `invoice.paid`, then
    /// `customer.subscription.updated`. A subscription set to cancel at period end ends
    /// instead (`customer.subscription.deleted`).
    pub async fn renew(&self, sub_id: &str) {
        let (invoice, previous) = {
            let mut s = self.shared.store.lock().expect("store");
            let sub = s.subscriptions.get(sub_id).cloned().expect("known subscription");
            if sub["cancel_at_period_end"] == json!(true) {
                let sub = s.subscriptions.get_mut(sub_id).expect("known subscription");
                sub["status"] = json!("canceled");
                sub["ended_at"] = json!(now());
                sub["canceled_at"] = json!(now());
                (None, json!({"status": "active"}))
            } else {
                let previous = s.advance_period(sub_id).expect("a period");
                let sub = s.subscriptions.get(sub_id).cloned().expect("known subscription");
                let amount = sub["items"]["data"][0]["price"]["unit_amount"].as_i64().unwrap_or(0)
                    * sub["items"]["data"][0]["quantity"].as_i64().unwrap_or(1);
                let invoice = s.new_invoice(&sub, "subscription_cycle", amount, true);
                let sub = s.subscriptions.get_mut(sub_id).expect("known subscription");
                sub["latest_invoice"] = invoice["id"].clone();
                sub["status"] = json!("active");
                (Some(invoice), previous)
            }
        };
        if let Some(invoice) = invoice {
            self.shared.emit("invoice.paid", invoice, json!({"status": "open"})).await;
        }
        self.shared.emit_subscription_update(sub_id, previous).await;
    }

    /// The period ends and the renewal charge fails: an open invoice,
    /// `invoice.payment_failed`, and the subscription `past_due`.
    pub async fn fail_renewal(&self, sub_id: &str) -> String {
        let (invoice, previous) = {
            let mut s = self.shared.store.lock().expect("store");
            let mut previous = s.advance_period(sub_id).expect("a period");
            let sub = s.subscriptions.get(sub_id).cloned().expect("known subscription");
            let amount = sub["items"]["data"][0]["price"]["unit_amount"].as_i64().unwrap_or(0);
            let invoice = s.new_invoice(&sub, "subscription_cycle", amount, false);
            let sub = s.subscriptions.get_mut(sub_id).expect("known subscription");
            previous["status"] = sub["status"].clone();
            sub["status"] = json!("past_due");
            sub["latest_invoice"] = invoice["id"].clone();
            (invoice, previous)
        };
        let id = invoice["id"].as_str().unwrap_or_default().to_owned();
        self.shared.emit("invoice.payment_failed", invoice, json!({"attempted": false})).await;
        self.shared.emit_subscription_update(sub_id, previous).await;
        id
    }

    /// The customer fixes their card and the open invoice is paid: `invoice.paid` and the
    /// subscription active again.
    pub async fn pay_invoice(&self, invoice_id: &str) {
        let (invoice, sub_id) = {
            let mut s = self.shared.store.lock().expect("store");
            let inv = s.invoices.get_mut(invoice_id).expect("known invoice");
            inv["status"] = json!("paid");
            inv["amount_paid"] = inv["amount_due"].clone();
            inv["amount_remaining"] = json!(0);
            let invoice = inv.clone();
            s.record_invoice_payment(&invoice);
            let sub_id = invoice["parent"]["subscription_details"]["subscription"].as_str().map(str::to_owned);
            if let Some(sub) = sub_id.as_ref().and_then(|id| s.subscriptions.get_mut(id)) {
                sub["status"] = json!("active");
            }
            (invoice, sub_id)
        };
        self.shared.emit("invoice.paid", invoice, json!({"status": "open"})).await;
        if let Some(id) = sub_id {
            self.shared.emit_subscription_update(&id, json!({"status": "past_due"})).await;
        }
    }

    /// Collection pauses (as when a trial ends without a card): `customer.subscription.paused`.
    pub async fn pause(&self, sub_id: &str) {
        let sub = {
            let mut s = self.shared.store.lock().expect("store");
            let sub = s.subscriptions.get_mut(sub_id).expect("known subscription");
            sub["status"] = json!("paused");
            sub.clone()
        };
        self.shared.emit("customer.subscription.paused", sub, json!({"status": "active"})).await;
    }

    /// The cardholder disputes a paid session's charge: `charge.dispute.created`.
    pub async fn dispute(&self, session_id: &str) -> String {
        let (intent, amount) = {
            let s = self.shared.store.lock().expect("store");
            let session = s.sessions.get(session_id).expect("known session");
            (session["payment_intent"].as_str().expect("a paid session").to_owned(), session["amount_total"].clone())
        };
        self.dispute_intent(&intent, amount).await
    }

    /// The cardholder disputes a paid invoice's charge: `charge.dispute.created`, naming
    /// only the PaymentIntent.
    pub async fn dispute_invoice(&self, invoice_id: &str) -> String {
        let (intent, amount, _) = self.invoice_intent(invoice_id);
        self.dispute_intent(&intent, amount).await
    }

    async fn dispute_intent(&self, intent: &str, amount: Value) -> String {
        let dispute = {
            let mut s = self.shared.store.lock().expect("store");
            let mut d = fixture("dispute");
            let id = random_id("dp");
            d["id"] = json!(id);
            d["amount"] = amount;
            d["charge"] = json!(random_id("ch"));
            d["payment_intent"] = json!(intent);
            d["status"] = json!("needs_response");
            d["created"] = json!(now());
            s.disputes.insert(id, d.clone());
            d
        };
        let id = dispute["id"].as_str().unwrap_or_default().to_owned();
        self.shared.emit("charge.dispute.created", dispute, json!({})).await;
        id
    }

    /// The bank decides: `charge.dispute.closed` with status `won` or `lost`.
    pub async fn close_dispute(&self, id: &str, won: bool) {
        let dispute = {
            let mut s = self.shared.store.lock().expect("store");
            let d = s.disputes.get_mut(id).expect("known dispute");
            d["status"] = json!(if won { "won" } else { "lost" });
            d.clone()
        };
        self.shared.emit("charge.dispute.closed", dispute, json!({"status": "needs_response"})).await;
    }
}

async fn create_product(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    handle(&shared, &headers, "POST /v1/products", &body, |store, form| {
        let Some(name) = form.get("name") else { return missing("name") };
        let id = store.new_product(name, metadata(form));
        (StatusCode::OK, store.products[&id].clone())
    })
}

async fn create_price(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    handle(&shared, &headers, "POST /v1/prices", &body, |store, form| {
        let Some(currency) = form.get("currency") else { return missing("currency") };
        let Some(product) = form.get("product") else { return missing("product") };
        if !store.products.contains_key(product) {
            return no_such("product", product);
        }
        let Some(unit) = form.get("unit_amount").and_then(|u| u.parse::<i64>().ok()) else {
            return missing("unit_amount");
        };
        let interval = form.get("recurring[interval]").map(String::as_str);
        if interval.is_some_and(|i| !["day", "week", "month", "year"].contains(&i)) {
            return (
                StatusCode::BAD_REQUEST,
                err_body("invalid_request_error", "parameter_invalid", "Invalid interval", Some("recurring[interval]")),
            );
        }
        let price = store.new_price(product, unit, currency, interval, metadata(form));
        (StatusCode::OK, price)
    })
}

async fn get_price(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/prices", b"", |store, _| lookup(&store.prices, "price", &id))
}

async fn create_coupon(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    handle(&shared, &headers, "POST /v1/coupons", &body, |store, form| {
        let percent = form.get("percent_off").and_then(|p| p.parse::<f64>().ok());
        let amount = form.get("amount_off").and_then(|p| p.parse::<i64>().ok());
        if percent.is_none() == amount.is_none() {
            return (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "parameter_missing",
                    "You must pass exactly one of percent_off or amount_off.",
                    Some("percent_off"),
                ),
            );
        }
        if amount.is_some() && form.get("currency").is_none() {
            return missing("currency");
        }
        let id = form.get("id").cloned().unwrap_or_else(|| random_id("coupon"));
        if store.coupons.contains_key(&id) {
            return (
                StatusCode::BAD_REQUEST,
                err_body("invalid_request_error", "resource_already_exists", "Coupon already exists.", Some("id")),
            );
        }
        let mut c = fixture("coupon");
        c["id"] = json!(id);
        c["percent_off"] = percent.map_or(Value::Null, |p| json!(p));
        c["amount_off"] = amount.map_or(Value::Null, |a| json!(a));
        c["currency"] = form.get("currency").map_or(Value::Null, |c| json!(c));
        c["duration"] = json!(form.get("duration").map_or("once", String::as_str));
        c["duration_in_months"] = Value::Null;
        c["max_redemptions"] =
            form.get("max_redemptions").and_then(|m| m.parse::<i64>().ok()).map_or(Value::Null, |m| json!(m));
        c["redeem_by"] = Value::Null;
        c["name"] = form.get("name").map_or(Value::Null, |n| json!(n));
        c["metadata"] = metadata(form);
        c["created"] = json!(now());
        store.coupons.insert(id, c.clone());
        (StatusCode::OK, c)
    })
}

async fn get_coupon(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/coupons", b"", |store, _| lookup(&store.coupons, "coupon", &id))
}

async fn get_subscription(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/subscriptions", b"", |store, _| {
        lookup(&store.subscriptions, "subscription", &id)
    })
}

async fn get_invoice(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&shared, &headers, "GET /v1/invoices", b"", |store, _| lookup(&store.invoices, "invoice", &id))
}

/// `POST /v1/subscriptions/:id`: price change (with `proration_behavior`), cancel at period
/// end or not, metadata. An upgrade with `always_invoice` bills the prorated difference now.
async fn update_subscription(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut out: Vec<(&'static str, Value, Value)> = Vec::new();
    let res = handle(&shared, &headers, "POST /v1/subscriptions", &body, |store, form| {
        let Some(sub) = store.subscriptions.get(&id).cloned() else { return no_such("subscription", &id) };
        if sub["status"] == json!("canceled") {
            return (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "resource_missing",
                    "A canceled subscription can only update its cancellation_details and metadata.",
                    None,
                ),
            );
        }
        let mut sub = sub;
        let mut previous = serde_json::Map::new();
        let pending_if_incomplete = form.get("payment_behavior").is_some_and(|b| b == "pending_if_incomplete");
        if pending_if_incomplete && form.keys().any(|k| k.starts_with("metadata[") || k == "cancel_at_period_end") {
            return (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "parameter_invalid_empty",
                    "When `payment_behavior` is `pending_if_incomplete`, you can only pass the supported parameters.",
                    Some("payment_behavior"),
                ),
            );
        }
        if let Some(flag) = form.get("cancel_at_period_end") {
            previous.insert("cancel_at_period_end".into(), sub["cancel_at_period_end"].clone());
            sub["cancel_at_period_end"] = json!(flag == "true");
            sub["cancel_at"] =
                if flag == "true" { sub["items"]["data"][0]["current_period_end"].clone() } else { Value::Null };
        }
        let new_meta = metadata(form);
        if let Some(m) = new_meta.as_object().filter(|m| !m.is_empty()) {
            previous.insert("metadata".into(), sub["metadata"].clone());
            for (k, v) in m {
                if v == "" {
                    sub["metadata"].as_object_mut().map(|o| o.remove(k));
                } else {
                    sub["metadata"][k] = v.clone();
                }
            }
        }
        if let Some(price_id) = form.get("items[0][price]") {
            let Some(price) = store.prices.get(price_id).cloned() else { return no_such("price", price_id) };
            let item_id = form.get("items[0][id]");
            if item_id.is_none_or(|i| *i != sub["items"]["data"][0]["id"]) {
                return missing("items[0][id]");
            }
            let old = sub["items"]["data"][0]["price"].clone();
            let behavior = form.get("proration_behavior").map_or("create_prorations", String::as_str);
            let (old_unit, new_unit) =
                (old["unit_amount"].as_i64().unwrap_or(0), price["unit_amount"].as_i64().unwrap_or(0));
            let item = sub["items"]["data"][0].clone();
            let (start, end) =
                (item["current_period_start"].as_i64().unwrap_or(0), item["current_period_end"].as_i64().unwrap_or(0));
            let invoiced = behavior == "always_invoice" && new_unit > old_unit && end > start;
            let declined = invoiced && store.decline_invoices;
            if declined && pending_if_incomplete {
                // The change waits for payment; the subscription keeps its price.
                let invoice = store.new_invoice(&sub, "subscription_update", new_unit - old_unit, false);
                sub["latest_invoice"] = invoice["id"].clone();
                let mut pending_item = item.clone();
                pending_item["price"] = price.clone();
                sub["pending_update"] = json!({"billing_cycle_anchor": null, "expires_at": now() + 23 * 3600,
                    "subscription_items": [pending_item], "trial_end": null, "trial_from_plan": null});
                previous.insert("pending_update".into(), Value::Null);
                out.push(("invoice.payment_failed", invoice, json!({"attempted": false})));
            } else {
                // Applied: any change that was waiting for payment is replaced.
                sub["pending_update"] = Value::Null;
                previous.insert("items".into(), json!({"data": [{"price": old}]}));
                sub["items"]["data"][0]["price"] = price.clone();
                sub["items"]["data"][0]["plan"]["id"] = price["id"].clone();
                sub["items"]["data"][0]["plan"]["amount"] = price["unit_amount"].clone();
                if invoiced {
                    let remaining = (end - now()).clamp(0, end - start);
                    let amount = (new_unit - old_unit) * remaining / (end - start);
                    let invoice = store.new_invoice(&sub, "subscription_update", amount, !declined);
                    sub["latest_invoice"] = invoice["id"].clone();
                    if declined {
                        // Stripe's default (`allow_incomplete`): the new price applies, unpaid.
                        previous.insert("status".into(), sub["status"].clone());
                        sub["status"] = json!("past_due");
                        out.push(("invoice.payment_failed", invoice, json!({"attempted": false})));
                    } else {
                        out.push(("invoice.paid", invoice, json!({"status": "open"})));
                    }
                }
            }
        }
        store.subscriptions.insert(id.clone(), sub.clone());
        out.push(("customer.subscription.updated", sub.clone(), Value::Object(previous)));
        (StatusCode::OK, sub)
    });
    for (kind, object, previous) in out {
        shared.emit(kind, object, previous).await;
    }
    res
}

/// `DELETE /v1/subscriptions/:id`: ends it now.
async fn cancel_subscription(State(shared): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let mut ended = None;
    let res =
        handle(&shared, &headers, "DELETE /v1/subscriptions", b"", |store, _| match store.subscriptions.get_mut(&id) {
            Some(sub) if sub["status"] != json!("canceled") => {
                let previous = json!({"status": sub["status"]});
                sub["status"] = json!("canceled");
                sub["canceled_at"] = json!(now());
                sub["ended_at"] = json!(now());
                ended = Some((sub.clone(), previous));
                (StatusCode::OK, sub.clone())
            }
            Some(_) => (
                StatusCode::BAD_REQUEST,
                err_body("invalid_request_error", "resource_missing", &format!("No such subscription: '{id}'"), None),
            ),
            None => no_such("subscription", &id),
        });
    if let Some((sub, previous)) = ended {
        shared.emit("customer.subscription.deleted", sub, previous).await;
    }
    res
}

/// `POST /v1/subscriptions/:id/resume`: only a paused subscription resumes.
async fn resume_subscription(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut resumed = None;
    let res = handle(&shared, &headers, "POST /v1/subscriptions/resume", &body, |store, _| {
        match store.subscriptions.get_mut(&id) {
            Some(sub) if sub["status"] == json!("paused") => {
                sub["status"] = json!("active");
                resumed = Some(sub.clone());
                (StatusCode::OK, sub.clone())
            }
            Some(_) => (
                StatusCode::BAD_REQUEST,
                err_body(
                    "invalid_request_error",
                    "subscription_not_paused",
                    "Only a paused subscription can be resumed.",
                    None,
                ),
            ),
            None => no_such("subscription", &id),
        }
    });
    if let Some(sub) = resumed {
        shared.emit("customer.subscription.resumed", sub, json!({"status": "paused"})).await;
    }
    res
}

/// `GET /v1/events?created[gte]=…&limit=…&starting_after=…`: newest first, as Stripe lists.
async fn list_events(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    handle(&shared, &headers, "GET /v1/events", b"", |store, _| {
        let num = |k: &str| query.get(k).and_then(|v| v.parse::<i64>().ok());
        let limit = num("limit").unwrap_or(10).clamp(1, 100) as usize;
        let mut matching: Vec<&Value> = store
            .events
            .iter()
            .rev()
            .filter(|e| num("created[gte]").is_none_or(|t| e["created"].as_i64().unwrap_or(0) >= t))
            .filter(|e| num("created[gt]").is_none_or(|t| e["created"].as_i64().unwrap_or(0) > t))
            .filter(|e| num("created[lte]").is_none_or(|t| e["created"].as_i64().unwrap_or(0) <= t))
            .filter(|e| query.get("type").is_none_or(|t| e["type"] == json!(t)))
            .collect();
        if let Some(after) = query.get("starting_after") {
            let Some(pos) = matching.iter().position(|e| e["id"] == json!(after)) else {
                return no_such("event", after);
            };
            matching.drain(..=pos);
        }
        let has_more = matching.len() > limit;
        let data: Vec<Value> = matching.into_iter().take(limit).cloned().collect();
        (StatusCode::OK, json!({"object": "list", "data": data, "has_more": has_more, "url": "/v1/events"}))
    })
}

async fn list_invoice_payments(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    handle(&shared, &headers, "GET /v1/invoice_payments", b"", |store, _| {
        let data: Vec<Value> = store
            .invoice_payments
            .values()
            .filter(|p| query.get("invoice").is_none_or(|i| p["invoice"] == json!(i)))
            .filter(|p| query.get("payment[payment_intent]").is_none_or(|i| p["payment"]["payment_intent"] == json!(i)))
            .cloned()
            .collect();
        (StatusCode::OK, json!({"object": "list", "data": data, "has_more": false, "url": "/v1/invoice_payments"}))
    })
}
