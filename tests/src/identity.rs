//! A fake identity provider: it publishes a JSON Web Key Set over HTTP (as Firebase, Auth0
//! or any OIDC provider does at its `jwks_uri`) and signs tokens with the private halves,
//! RS256 and ES256. Keys can be published and withdrawn (rotation), and it counts how often
//! its key set was fetched.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The issuer and audience the provider's tokens carry (set them as `JWT_ISSUER`/`JWT_AUDIENCE`).
pub const ISSUER: &str = "https://securetoken.example/tollgate-test";
pub const AUDIENCE: &str = "tollgate-test";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/identity").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One of the provider's signing keys.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    pub fn rsa_a() -> SigningKey {
        SigningKey::rsa("rsa-a", "rsa-a.pem")
    }

    /// The key a rotation moves to.
    pub fn rsa_b() -> SigningKey {
        SigningKey::rsa("rsa-b", "rsa-b.pem")
    }

    pub fn ec() -> SigningKey {
        let key = EncodingKey::from_ec_pem(&fixture("ec-p256.pem")).expect("EC key");
        SigningKey { kid: "ec-p256".into(), alg: Algorithm::ES256, key }
    }

    fn rsa(kid: &str, file: &str) -> SigningKey {
        let key = EncodingKey::from_rsa_pem(&fixture(file)).expect("RSA key");
        SigningKey { kid: kid.into(), alg: Algorithm::RS256, key }
    }

    /// The public half, as the key set publishes it.
    pub fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).expect("jwk");
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match self.alg {
            Algorithm::ES256 => KeyAlgorithm::ES256,
            _ => KeyAlgorithm::RS256,
        });
        jwk
    }

    /// `claims` signed with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

/// The RSA key `rsa-a`'s public key in PEM, for the test that tries it as an HS256 secret.
pub fn rsa_a_public_pem() -> Vec<u8> {
    fixture("rsa-a.pub.pem")
}

#[derive(Clone, Default)]
struct Published {
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

pub struct IdentityProvider {
    /// Where the key set is served (`JWT_JWKS_URL`).
    pub jwks_url: String,
    published: Published,
    server: tokio::task::JoinHandle<()>,
}

impl IdentityProvider {
    /// Starts serving a key set holding `keys`.
    pub async fn start(keys: &[&SigningKey]) -> IdentityProvider {
        let published = Published::default();
        let app = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                get(|State(p): State<Published>| async move {
                    p.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = p.keys.lock().map(|k| k.clone()).unwrap_or_default();
                    Json(JwkSet { keys })
                }),
            )
            .with_state(published.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let provider = IdentityProvider { jwks_url: format!("http://{addr}/.well-known/jwks.json"), published, server };
        provider.publish(keys);
        provider
    }

    /// Replaces the published keys.
    pub fn publish(&self, keys: &[&SigningKey]) {
        if let Ok(mut held) = self.published.keys.lock() {
            *held = keys.iter().map(|k| k.jwk()).collect();
        }
    }

    /// How many times the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// The api settings that trust this provider.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("JWT_JWKS_URL".into(), self.jwks_url.clone()),
            ("JWT_ISSUER".into(), ISSUER.into()),
            ("JWT_AUDIENCE".into(), AUDIENCE.into()),
        ]
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}
