//! The fake Stripe behaves as Stripe does on the wire: errors, keys, required parameters.

use serde_json::{Value, json};
use tollgate_tests::fake_stripe::FakeStripe;

async fn post(stripe: &FakeStripe, path: &str, key: Option<&str>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", stripe.base_url))
        .bearer_auth(&stripe.secret_key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).expect("form"));
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let res = req.send().await.expect("request");
    (res.status().as_u16(), res.json().await.expect("json"))
}

const SESSION: &[(&str, &str)] = &[
    ("mode", "payment"),
    ("success_url", "https://example.com/ok"),
    ("line_items[0][price_data][currency]", "usd"),
    ("line_items[0][price_data][unit_amount]", "1500"),
    ("line_items[0][price_data][product_data][name]", "Credits"),
    ("line_items[0][quantity]", "2"),
    ("metadata[order_id]", "o-1"),
];

#[tokio::test]
async fn idempotency_keys_replay_or_refuse() {
    let stripe = FakeStripe::start().await;
    let (status, first) = post(&stripe, "/v1/checkout/sessions", Some("k1"), SESSION).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["amount_total"], json!(3000));
    assert_eq!(first["metadata"], json!({"order_id": "o-1"}));
    let (status, again) = post(&stripe, "/v1/checkout/sessions", Some("k1"), SESSION).await;
    assert_eq!((status, again["id"].clone()), (200, first["id"].clone()), "same key, same parameters: same session");
    let mut other = SESSION.to_vec();
    other[3] = ("line_items[0][price_data][unit_amount]", "999");
    let (status, err) = post(&stripe, "/v1/checkout/sessions", Some("k1"), &other).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["type"], json!("idempotency_error"));
    assert_eq!(stripe.sessions().len(), 1);
}

#[tokio::test]
async fn rejects_what_stripe_rejects() {
    let stripe = FakeStripe::start().await;
    let (status, err) = post(&stripe, "/v1/checkout/sessions", None, &SESSION[1..]).await;
    assert_eq!(
        (status, err["error"]["code"].clone(), err["error"]["param"].clone()),
        (400, json!("parameter_missing"), json!("mode"))
    );
    let mut with_customer = SESSION.to_vec();
    with_customer.push(("customer", "cus_nobody"));
    let (status, err) = post(&stripe, "/v1/checkout/sessions", None, &with_customer).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!("resource_missing")));
    let res = reqwest::Client::new().post(format!("{}/v1/customers", stripe.base_url)).send().await.expect("request");
    assert_eq!(res.status(), 401, "no key");
    let res = reqwest::Client::new()
        .get(format!("{}/v1/checkout/sessions/cs_missing", stripe.base_url))
        .bearer_auth(&stripe.secret_key)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 404);
    assert!(stripe.sessions().is_empty());
}

#[tokio::test]
async fn billing_objects_refuse_bad_requests_and_events_are_listed() {
    let stripe = FakeStripe::start().await;
    let (status, err) = post(&stripe, "/v1/prices", None, &[("currency", "usd"), ("unit_amount", "100")]).await;
    assert_eq!((status, err["error"]["param"].clone()), (400, json!("product")));
    let (status, err) =
        post(&stripe, "/v1/prices", None, &[("currency", "usd"), ("product", "prod_x"), ("unit_amount", "1")]).await;
    assert_eq!((status, err["error"]["code"].clone()), (404, json!("resource_missing")));
    let (status, product) = post(&stripe, "/v1/products", None, &[("name", "Pro")]).await;
    assert_eq!(status, 200, "{product}");
    let product_id = product["id"].as_str().expect("id");
    let (status, price) = post(
        &stripe,
        "/v1/prices",
        None,
        &[("currency", "usd"), ("product", product_id), ("unit_amount", "2000"), ("recurring[interval]", "month")],
    )
    .await;
    assert_eq!((status, price["type"].clone()), (200, json!("recurring")), "{price}");

    // A recurring price in payment mode, a one-time price in subscription mode: refused.
    let price_id = price["id"].as_str().expect("id");
    let base = [("success_url", "https://example.com/ok"), ("line_items[0][quantity]", "1")];
    let mut payment = base.to_vec();
    payment.extend([("mode", "payment"), ("line_items[0][price]", price_id)]);
    let (status, err) = post(&stripe, "/v1/checkout/sessions", None, &payment).await;
    assert_eq!((status, err["error"]["param"].clone()), (400, json!("line_items")), "{err}");
    let mut sub = base.to_vec();
    sub.extend([("mode", "subscription"), ("line_items[0][price]", "price_unknown")]);
    let (status, err) = post(&stripe, "/v1/checkout/sessions", None, &sub).await;
    assert_eq!((status, err["error"]["code"].clone()), (400, json!("resource_missing")));
    let mut coupon = base.to_vec();
    coupon.extend([("mode", "subscription"), ("line_items[0][price]", price_id), ("discounts[0][coupon]", "NOPE")]);
    let (status, err) = post(&stripe, "/v1/checkout/sessions", None, &coupon).await;
    assert_eq!((status, err["error"]["param"].clone()), (400, json!("discounts[0][coupon]")));
    let (status, err) = post(&stripe, "/v1/coupons", None, &[("duration", "once")]).await;
    assert_eq!(status, 400, "{err}");
    let (status, err) = post(&stripe, "/v1/subscriptions/sub_missing", None, &[("cancel_at_period_end", "true")]).await;
    assert_eq!((status, err["error"]["code"].clone()), (404, json!("resource_missing")));

    // A paid subscription checkout: events listed newest first, filtered by creation time.
    let mut ok = base.to_vec();
    ok.extend([("mode", "subscription"), ("line_items[0][price]", price_id), ("subscription_data[metadata][k]", "v")]);
    let (status, session) = post(&stripe, "/v1/checkout/sessions", None, &ok).await;
    assert_eq!(status, 200, "{session}");
    stripe.complete_session(session["id"].as_str().expect("id")).await;
    assert_eq!(stripe.subscriptions()[0]["metadata"], json!({"k": "v"}));
    let list = |query: String| {
        let url = format!("{}/v1/events?{query}", stripe.base_url);
        async move {
            let res = reqwest::Client::new().get(url).bearer_auth("sk_test_x").send().await.expect("list");
            res.json::<Value>().await.expect("json")
        }
    };
    let all = list("limit=2".into()).await;
    let types: Vec<&str> = all["data"].as_array().expect("data").iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["checkout.session.completed", "invoice.paid"]);
    assert_eq!(all["has_more"], json!(true));
    let future = list(format!("created[gte]={}", chrono::Utc::now().timestamp() + 60)).await;
    assert_eq!(future["data"], json!([]));
}
