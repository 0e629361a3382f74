//! A customer's webhook receiver, for the outgoing-webhook tests: it records every request
//! (headers and body) and answers with the statuses it was told, in order, then 200.
//!
//! It also carries an independent Standard Webhooks verifier ([`verify`]), written from the
//! specification rather than from Tollgate's code, as a receiver's library would be.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<(u16, Option<String>)>,
    always: Option<u16>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let url = format!("http://{}/hooks", listener.local_addr().expect("addr"));
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = Router::new().fallback(receive).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inner }
    }

    /// The next answers, in order (then 200).
    pub fn answer(&self, statuses: &[u16]) {
        self.inner.lock().expect("receiver").script.extend(statuses.iter().map(|s| (*s, None)));
    }

    /// The next answer redirects to `location`.
    pub fn redirect_to(&self, location: &str) {
        self.inner.lock().expect("receiver").script.push_back((302, Some(location.to_owned())));
    }

    /// Every answer is `status`.
    pub fn always(&self, status: u16) {
        self.inner.lock().expect("receiver").always = Some(status);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("receiver").received.clone()
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: String) -> Response {
    let mut s = inner.lock().expect("receiver");
    s.received.push(Received { headers, body });
    let (status, location) = match s.always {
        Some(st) => (st, None),
        None => s.script.pop_front().unwrap_or((200, None)),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match location {
        Some(l) => (status, [("location", l)], "moved").into_response(),
        None => (status, "ok").into_response(),
    }
}

/// Verifies a delivery as the Standard Webhooks specification says: the secret's base64 key
/// after `whsec_`, HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, compared to
/// any of the space-separated `v1,` signatures; the timestamp within five minutes.
pub fn verify(secret: &str, r: &Received) -> Result<(), String> {
    let id = r.header("webhook-id").ok_or("no webhook-id")?;
    let ts = r.header("webhook-timestamp").ok_or("no webhook-timestamp")?;
    let sigs = r.header("webhook-signature").ok_or("no webhook-signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if (chrono::Utc::now().timestamp() - ts_num).abs() > 300 {
        return Err("timestamp outside the tolerance".into());
    }
    let key = STANDARD.decode(secret.strip_prefix("whsec_").ok_or("not a whsec_ secret")?).map_err(|_| "bad secret")?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|_| "bad key")?;
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let ok = sigs.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|s| s == expected);
    if ok { Ok(()) } else { Err(format!("no signature matches {sigs}")) }
}
