//! `Stripe-Signature` verification, done here rather than by async-stripe, whose
//! `construct_event` also rejects events of other API versions after a good signature.
//!
//! The header is `t=<unix>,v1=<hex>[,v1=<hex>…]` (several `v1` while a secret is rolled).
//! The signed payload is `{t}.{raw body}`, HMAC-SHA256 with the endpoint secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Computes the `v1` signature, for tests and the fake Stripe.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    hex::encode(mac(secret.as_bytes(), &timestamp.to_string(), payload).finalize().into_bytes())
}

/// A full header value as Stripe sends it.
pub fn header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

/// Verifies `header` for `payload` at time `now` (unix seconds).
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v),
            "v1" => candidates.push(v),
            _ => {} // v0 and future schemes are ignored, as Stripe's libraries do.
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret.as_bytes(), t_text, payload).finalize().into_bytes();
    let matched = candidates
        .iter()
        .filter_map(|c| hex::decode(c).ok())
        .fold(false, |found, sig| found | bool::from(sig.as_slice().ct_eq(expected.as_slice())));
    if matched { Ok(t) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn accepts_any_matching_v1() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(SECRET, 1000, body);
        let h = format!("t=1000,v1={},v1={good},v0=abc", "00".repeat(32));
        assert_eq!(verify(Some(&h), body, SECRET, 1100, 300), Ok(1000));
    }

    #[test]
    fn rejects_what_stripe_would_not_send() {
        let body = br#"{"id":"evt_1"}"#;
        let h = header(SECRET, 1000, body);
        assert_eq!(verify(None, body, SECRET, 1000, 300), Err(SignatureError::Missing));
        assert_eq!(verify(Some("garbage"), body, SECRET, 1000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("t=1000"), body, SECRET, 1000, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(Some(&h), body, SECRET, 1301, 300), Err(SignatureError::Stale));
        assert_eq!(verify(Some(&h), br#"{"id":"evt_2"}"#, SECRET, 1000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&h), body, "whsec_other", 1000, 300), Err(SignatureError::Mismatch));
    }
}
