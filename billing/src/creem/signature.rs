//! Creem's webhook signature: the `creem-signature` header is the hex HMAC-SHA256 of the raw
//! body under the webhook secret. It signs no timestamp, so a captured delivery can be sent
//! again: the inbox stores an event id once (and refuses events older than it keeps), so a
//! replay changes nothing.

use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing creem-signature header")]
    Missing,
    #[error("creem-signature is not a hex SHA-256 digest")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` against the body, in constant time.
pub fn verify(header: Option<&str>, body: &[u8], secret: &str) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let given = hex::decode(header).map_err(|_| SignatureError::Malformed)?;
    if given.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The header Creem would send for `body` (the fake Creem and tests sign with it).
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_its_own_body_and_secret() {
        let body = br#"{"id":"evt_1","eventType":"checkout.completed"}"#;
        let sig = sign(body, "whsec_a");
        assert_eq!(verify(Some(&sig), body, "whsec_a"), Ok(()));
        assert_eq!(verify(Some(&sig.to_uppercase()), body, "whsec_a"), Ok(()), "hex in any case");
        assert_eq!(verify(Some(&sig), b"{}", "whsec_a"), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(&sig), body, "whsec_b"), Err(SignatureError::Mismatch));
        assert_eq!(verify(None, body, "whsec_a"), Err(SignatureError::Missing));
        assert_eq!(verify(Some("zz"), body, "whsec_a"), Err(SignatureError::Malformed));
        assert_eq!(verify(Some(&sig[..32]), body, "whsec_a"), Err(SignatureError::Malformed));
    }
}
