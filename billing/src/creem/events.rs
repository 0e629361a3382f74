//! Creem's event shapes: `{id, eventType, created_at, object}`, and the fields of each object
//! we act on. Nested objects are sometimes expanded and sometimes only an id
//! ([`IdOrObject`]); amounts are integer cents.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// The few fields read at the door.
#[derive(Debug, Clone, Deserialize)]
pub struct EventHead {
    pub id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl EventHead {
    pub fn parse(raw: &[u8]) -> Result<EventHead, String> {
        let head: EventHead = serde_json::from_slice(raw).map_err(|e| format!("malformed event: {e}"))?;
        let id_ok = !head.id.is_empty() && head.id.len() <= 255 && head.id.bytes().all(|b| b.is_ascii_graphic());
        if !id_ok || head.event_type.is_empty() || head.event_type.len() > 100 {
            return Err("malformed event: bad id or eventType".into());
        }
        Ok(head)
    }
}

/// An event's object.
#[derive(Debug, Deserialize)]
pub struct Event<T> {
    pub object: T,
}

/// A reference Creem expands or not.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IdOrObject {
    Id(String),
    Object {
        id: String,
        #[serde(flatten)]
        rest: HashMap<String, Value>,
    },
}

impl IdOrObject {
    pub fn id(&self) -> &str {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id, .. } => id,
        }
    }

    fn field(&self, name: &str) -> Option<&Value> {
        match self {
            IdOrObject::Object { rest, .. } => rest.get(name),
            IdOrObject::Id(_) => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name)?.as_str()
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        self.field(name)?.as_i64()
    }
}

/// Metadata values we set are strings; anything else reads as absent.
fn meta<'a>(metadata: &'a HashMap<String, Value>, key: &str) -> Option<&'a str> {
    metadata.get(key)?.as_str()
}

/// `checkout.completed`'s object.
#[derive(Debug, Deserialize)]
pub struct Checkout {
    pub id: String,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub order: Option<Order>,
    #[serde(default)]
    pub customer: Option<IdOrObject>,
    #[serde(default)]
    pub subscription: Option<IdOrObject>,
    #[serde(default)]
    pub product: Option<IdOrObject>,
    #[serde(default)]
    pub metadata: HashMap<String, Value>,
}

impl Checkout {
    /// Our order: the metadata we set, or the request id (also ours).
    pub fn order_id(&self) -> Option<crate::OrderId> {
        meta(&self.metadata, "order_id").or(self.request_id.as_deref()).and_then(|s| s.parse().ok())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: String,
    /// What the order cost, in cents (before tax).
    #[serde(default)]
    pub amount: Option<i64>,
    /// What the customer paid, in cents (with tax).
    #[serde(default)]
    pub amount_paid: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// The transaction that paid it: refunds and disputes name it.
    #[serde(default)]
    pub transaction: Option<IdOrObject>,
}

/// A subscription, as events carry it and `GET /v1/subscriptions` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub product: Option<IdOrObject>,
    #[serde(default)]
    pub customer: Option<IdOrObject>,
    #[serde(default)]
    pub metadata: HashMap<String, Value>,
    #[serde(default)]
    pub current_period_start_date: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub current_period_end_date: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub canceled_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub last_transaction_id: Option<String>,
    #[serde(default)]
    pub last_transaction: Option<IdOrObject>,
}

impl Subscription {
    pub fn meta(&self, key: &str) -> Option<&str> {
        meta(&self.metadata, key)
    }

    /// The payment that last paid it, and what it paid in cents (the transaction's
    /// `amount_paid`, else its `amount`, else the product's price).
    pub fn last_payment(&self) -> Option<(String, i64)> {
        let id = self.last_transaction_id.clone().or_else(|| self.last_transaction.as_ref().map(|t| t.id().into()))?;
        let from_transaction = self
            .last_transaction
            .as_ref()
            .filter(|t| t.id() == id)
            .and_then(|t| t.integer("amount_paid").or_else(|| t.integer("amount")));
        let cents = from_transaction.or_else(|| self.product.as_ref()?.integer("price"))?;
        Some((id, cents))
    }

    pub fn currency(&self) -> Option<&str> {
        self.last_transaction
            .as_ref()
            .and_then(|t| t.text("currency"))
            .or_else(|| self.product.as_ref()?.text("currency"))
    }
}

/// `refund.created`'s object: one refund (not a running total).
#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    pub refund_amount: i64,
    #[serde(default)]
    pub transaction: Option<IdOrObject>,
    #[serde(default)]
    pub order: Option<IdOrObject>,
    #[serde(default)]
    pub checkout: Option<IdOrObject>,
}

/// `dispute.created`'s object.
#[derive(Debug, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub transaction: Option<IdOrObject>,
    #[serde(default)]
    pub order: Option<IdOrObject>,
    #[serde(default)]
    pub checkout: Option<IdOrObject>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creems_documented_payloads_read() {
        let head = EventHead::parse(
            br#"{"id":"evt_5WHHcZPv7VS0YUsberIuOz","eventType":"checkout.completed","created_at":1728734325927,"object":{}}"#,
        )
        .expect("head");
        assert_eq!(head.event_type, "checkout.completed");
        let checkout: Event<Checkout> = serde_json::from_value(serde_json::json!({"object": {
            "id": "ch_4l0N34kxo16AhRKUHFUuXr", "object": "checkout", "request_id": "my-request-id",
            "order": {"id": "ord_4a", "customer": "cust_1", "product": "prod_d1", "amount": 1000, "currency": "EUR", "status": "paid"},
            "customer": {"id": "cust_1", "email": "customer@example.com"},
            "subscription": {"id": "sub_6p", "status": "active"},
            "metadata": {"order_id": "0193a4b2-0000-7000-8000-000000000000", "n": 3}
        }}))
        .expect("checkout");
        assert_eq!(checkout.object.customer.as_ref().map(IdOrObject::id), Some("cust_1"));
        assert_eq!(checkout.object.subscription.as_ref().map(IdOrObject::id), Some("sub_6p"));
        assert!(checkout.object.order_id().is_some());
        let sub: Subscription = serde_json::from_value(serde_json::json!({
            "id": "sub_6p", "status": "active", "product": {"id": "prod_d1", "price": 1000, "currency": "USD"},
            "customer": "cust_1", "last_transaction_id": "tran_5y",
            "current_period_end_date": "2024-11-12T11:58:38.000Z", "canceled_at": null
        }))
        .expect("subscription");
        assert_eq!(sub.last_payment(), Some(("tran_5y".into(), 1000)));
        assert_eq!(sub.currency(), Some("USD"));
    }

    #[test]
    fn a_head_without_an_id_or_type_is_refused() {
        assert!(EventHead::parse(br#"{"id":"","eventType":"x","created_at":1}"#).is_err());
        assert!(EventHead::parse(br#"{"id":"evt 1","eventType":"x","created_at":1}"#).is_err());
        assert!(EventHead::parse(br#"{"id":"evt_1","eventType":"","created_at":1}"#).is_err());
        assert!(EventHead::parse(b"[]").is_err());
    }
}
