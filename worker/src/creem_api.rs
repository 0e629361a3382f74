//! Creem's REST API (`CREEM_API_BASE`, the fake in tests), the calls the jobs make: create a
//! checkout, read a subscription, cancel one, open the customer portal. Every request names
//! our order or job (`request_id`), so a retried job asks for the same checkout again and
//! Creem answers with the first one.

use crate::jobs::JobError;
use billing::creem::events::Subscription;
use platform::config::Settings;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone)]
pub struct CreemClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A hosted checkout Creem made.
#[derive(Debug, Deserialize)]
pub struct CreatedCheckout {
    pub id: String,
    pub checkout_url: String,
}

/// What a checkout asks for.
pub struct NewCheckout<'a> {
    pub product_id: &'a str,
    pub request_id: &'a str,
    pub units: Option<i64>,
    pub success_url: &'a str,
    pub metadata: Value,
    pub email: Option<&'a str>,
}

/// The most of a Creem answer read: the objects we read are a few kilobytes.
const MAX_ANSWER: usize = 1 << 20;

impl CreemClient {
    pub fn from_settings(settings: &Settings) -> Result<Option<CreemClient>, String> {
        if !settings.creem.enabled() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("Creem client: {e}"))?;
        Ok(Some(CreemClient {
            http,
            base: settings.creem.api_base.clone(),
            key: settings.creem.api_key.expose().to_owned(),
        }))
    }

    pub async fn create_checkout(&self, c: NewCheckout<'_>) -> Result<CreatedCheckout, JobError> {
        let mut body = json!({
            "product_id": c.product_id,
            "request_id": c.request_id,
            "success_url": c.success_url,
            "metadata": c.metadata,
        });
        if let Some(units) = c.units {
            body["units"] = json!(units);
        }
        if let Some(email) = c.email {
            body["customer"] = json!({ "email": email });
        }
        self.send(self.http.post(format!("{}/v1/checkouts", self.base)).json(&body)).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Subscription, JobError> {
        let req = self.http.get(format!("{}/v1/subscriptions", self.base)).query(&[("subscription_id", id)]);
        self.send(req).await
    }

    /// Cancels now, or at the period's end (Creem's `scheduled` mode).
    pub async fn cancel(&self, id: &str, at_period_end: bool) -> Result<Subscription, JobError> {
        let mode = if at_period_end { "scheduled" } else { "immediate" };
        let url = format!("{}/v1/subscriptions/{}/cancel", self.base, urlencode(id));
        self.send(self.http.post(url).json(&json!({ "mode": mode }))).await
    }

    /// The customer's portal link.
    pub async fn portal(&self, customer_id: &str) -> Result<String, JobError> {
        #[derive(Deserialize)]
        struct Portal {
            customer_portal_link: String,
        }
        let req =
            self.http.post(format!("{}/v1/customers/billing", self.base)).json(&json!({"customer_id": customer_id}));
        Ok(self.send::<Portal>(req).await?.customer_portal_link)
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, JobError> {
        let res = req
            .header("x-api-key", &self.key)
            .send()
            .await
            .map_err(|e| JobError::Retryable(format!("creem unreachable: {}", e.without_url())))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| JobError::Retryable(format!("creem: {}", e.without_url())))?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER)]).into_owned();
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 409 {
            return Err(JobError::Retryable(format!("creem {status}: {}", snippet(&text))));
        }
        if !status.is_success() {
            return Err(JobError::Terminal(format!("creem {status}: {}", snippet(&text))));
        }
        serde_json::from_str(&text).map_err(|e| JobError::Terminal(format!("creem answered an unreadable body: {e}")))
    }
}

/// An error body, shortened for the job's last error.
fn snippet(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A path segment: Creem ids are letters, digits and `_`; anything else is escaped.
fn urlencode(id: &str) -> String {
    id.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
