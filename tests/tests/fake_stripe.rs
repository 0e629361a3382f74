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
