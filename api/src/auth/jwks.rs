//! The identity provider's signing keys (`JWT_JWKS_URL`), fetched and kept per api process.
//!
//! A key is looked up by the token's `kid`. The set is fetched again when it is older than
//! `JWT_JWKS_TTL` (providers rotate keys every few hours or days and publish the next one
//! ahead), or when a token names a `kid` the set does not hold (a key published since the
//! last fetch). Fetches are single-flight and at most one per `JWT_JWKS_MIN_REFETCH`, so a
//! stream of tokens with made-up `kid`s costs the provider one request per interval, not
//! one per token. A failed fetch keeps the keys already held: a provider outage does not
//! sign everyone out. A key gone from a fetched set is forgotten at once (rotation).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// The most a key set's body may weigh: a provider publishes a handful of keys.
const MAX_BODY: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable signing key: what it verifies and with which algorithm family.
#[derive(Clone)]
struct SigningKey {
    key: DecodingKey,
    /// The `alg` the set pins the key to, when it says.
    alg: Option<Algorithm>,
    /// For elliptic-curve keys, the curve (an ES384 token must not meet a P-256 key).
    curve: Option<EllipticCurve>,
}

#[derive(Default)]
struct Held {
    keys: HashMap<String, SigningKey>,
    /// When the set now held was fetched; `None` before the first success.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not.
    tried_at: Option<Instant>,
}

pub struct Jwks {
    url: String,
    http: reqwest::Client,
    ttl: Duration,
    min_refetch: Duration,
    held: RwLock<Held>,
    /// Held while a fetch runs: callers that find one running wait for its result.
    fetching: Mutex<()>,
}

impl Jwks {
    pub fn new(url: String, ttl: Duration, min_refetch: Duration) -> Jwks {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Jwks { url, http, ttl, min_refetch, held: RwLock::new(Held::default()), fetching: Mutex::new(()) }
    }

    /// The key named `kid`, usable with `alg`; fetches the set when it is stale or does not
    /// hold `kid`, within the refetch bound.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        if let Some(found) = self.lookup(kid, alg).await {
            return Some(found);
        }
        if !self.may_fetch().await {
            return None;
        }
        let _running = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(found) = self.lookup(kid, alg).await {
            return Some(found);
        }
        if self.may_fetch().await {
            self.fetch().await;
        }
        self.lookup(kid, alg).await
    }

    /// A held, fresh key that fits `alg`.
    async fn lookup(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        let held = self.held.read().await;
        let fresh = held.fetched_at.is_some_and(|t| t.elapsed() < self.ttl);
        let key = held.keys.get(kid)?;
        // A stale set is still used while a refetch is not allowed (or fails).
        if !fresh && held.tried_at.is_none_or(|t| t.elapsed() >= self.min_refetch) {
            return None;
        }
        fits(key, alg).then(|| key.key.clone())
    }

    async fn may_fetch(&self) -> bool {
        self.held.read().await.tried_at.is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    async fn fetch(&self) {
        let started = Instant::now();
        let result = self.download().await;
        let mut held = self.held.write().await;
        held.tried_at = Some(started);
        match result {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched the identity provider's key set");
                held.keys = keys;
                held.fetched_at = Some(started);
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the identity provider's key set failed; keeping the keys held")
            }
        }
    }

    async fn download(&self) -> anyhow::Result<HashMap<String, SigningKey>> {
        let mut response = self.http.get(&self.url).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(body.len() <= MAX_BODY, "the key set is over {MAX_BODY} bytes");
        }
        let set: JwkSet = serde_json::from_slice(&body)?;
        Ok(set.keys.iter().filter_map(usable).collect())
    }
}

/// A key of the set that may verify tokens: signing use, a `kid`, and a public key of an
/// asymmetric family. A symmetric (`oct`) key is never taken from a published set.
fn usable(jwk: &Jwk) -> Option<(String, SigningKey)> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    let kid = jwk.common.key_id.clone()?;
    let curve = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => None,
        AlgorithmParameters::EllipticCurve(p) => Some(p.curve.clone()),
        AlgorithmParameters::OctetKeyPair(p) => Some(p.curve.clone()),
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        // An `alg` we cannot verify with (an encryption algorithm) rules the key out.
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, SigningKey { key, alg, curve }))
}

/// Whether a token signed with `alg` may be checked against this key.
fn fits(key: &SigningKey, alg: Algorithm) -> bool {
    if key.alg.is_some_and(|pinned| pinned != alg) || key.key.family() != alg.family() {
        return false;
    }
    match (alg, &key.curve) {
        (Algorithm::ES256, Some(c)) => *c == EllipticCurve::P256,
        (Algorithm::ES384, Some(c)) => *c == EllipticCurve::P384,
        (Algorithm::EdDSA, Some(c)) => *c == EllipticCurve::Ed25519,
        (Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA, None) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(json: &str) -> HashMap<String, SigningKey> {
        let set: JwkSet = serde_json::from_str(json).expect("set");
        set.keys.iter().filter_map(usable).collect()
    }

    const RSA: &str = r#"{"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}"#;

    #[test]
    fn symmetric_and_encryption_keys_are_never_taken_from_a_set() {
        let keys = set(&format!(
            r#"{{"keys":[{RSA},
            {{"kty":"oct","kid":"h1","k":"c2VjcmV0"}},
            {{"kty":"RSA","kid":"e1","use":"enc","n":"sXch","e":"AQAB"}},
            {{"kty":"RSA","use":"sig","n":"sXch","e":"AQAB"}}]}}"#
        ));
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["r1"]);
    }

    #[test]
    fn a_key_only_checks_tokens_of_its_own_algorithm() {
        let keys = set(&format!(r#"{{"keys":[{RSA}]}}"#));
        let rsa = &keys["r1"];
        assert!(fits(rsa, Algorithm::RS256));
        assert!(!fits(rsa, Algorithm::RS384), "pinned to RS256");
        assert!(!fits(rsa, Algorithm::HS256), "an RSA public key is never an HMAC secret");
        assert!(!fits(rsa, Algorithm::ES256));
    }
}
