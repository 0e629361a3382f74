//! Standard Webhooks signing (standardwebhooks.com): a secret `whsec_<base64 key>`; each
//! delivery carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`,
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, so any receiver verifies it with
//! the reference libraries. Secrets are stored sealed under the server secret.

use crate::idempotency::Sealer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";
const PURPOSE: &str = "tollgate webhook endpoint secret v1";

/// A new secret: 24 random bytes (Standard Webhooks asks for 24 to 64).
pub fn new_secret() -> String {
    let key: [u8; 24] = rand::random();
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// `v1,<signature>` of one delivery, or `None` when `secret` is not a `whsec_` secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

fn sealer(server_secret: &[u8], endpoint_id: uuid::Uuid) -> Sealer {
    Sealer::derive(server_secret, PURPOSE, "webhook-endpoint", &endpoint_id.to_string())
}

/// The secret as stored: sealed, readable only with the server secret.
pub fn seal(server_secret: &[u8], endpoint_id: uuid::Uuid, secret: &str) -> String {
    sealer(server_secret, endpoint_id).seal(secret)
}

/// `None` when sealed under another server secret (rotated) or altered.
pub fn open(server_secret: &[u8], endpoint_id: uuid::Uuid, sealed: &str) -> Option<String> {
    sealer(server_secret, endpoint_id).open(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_example_signs_as_its_reference() {
        // The specification's example: this secret, id, timestamp and body sign to this value.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).expect("signs");
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(sign("not-a-secret", "m", 1, body), None);
    }

    #[test]
    fn a_secret_is_sealed_per_endpoint_and_opens_only_with_the_server_secret() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && secret.len() == 6 + 32);
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let sealed = seal(b"server", a, &secret);
        assert!(!sealed.contains(&secret[6..]));
        assert_eq!(open(b"server", a, &sealed).as_deref(), Some(secret.as_str()));
        assert_eq!(open(b"other", a, &sealed), None);
        assert_eq!(open(b"server", b, &sealed), None, "bound to its endpoint");
    }
}
