//! Stripe events as Stripe sends them, signed as Stripe signs them.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "whsec_test_tollgate_secret";

/// The `Stripe-Signature` header for `body` at `timestamp`. Written independently of the
/// code under test, from Stripe's documentation.
pub fn signature(body: &[u8], timestamp: i64, secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An event envelope around `object`.
pub fn event(id: &str, event_type: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object, "previous_attributes": null}
    })
}

/// A paid Checkout Session for one of our orders, shaped like Stripe's fixture.
pub fn checkout_session_completed(event_id: &str, order_id: billing::OrderId, amount_cents: i64) -> Value {
    let session = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    event(
        event_id,
        "checkout.session.completed",
        json!({
            "id": session,
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "amount_subtotal": amount_cents,
            "amount_total": amount_cents,
            "currency": "usd",
            "client_reference_id": order_id.to_string(),
            "metadata": {"order_id": order_id.to_string()},
            "payment_intent": format!("pi_test_{}", uuid::Uuid::new_v4().simple()),
            "customer": null
        }),
    )
}
