//! Bearer JWTs, verified with `jsonwebtoken`: from an identity provider (asymmetric, keys
//! from `JWT_JWKS_URL`) or, for simple setups, signed with `JWT_SECRET` (HS256).
//!
//! One root of trust at a time: with a key set configured, HS256 tokens are refused, so a
//! token cannot switch its `alg` to HS256 and pass the provider's public key off as a
//! shared secret; without one, only HS256 is accepted.
//!
//! Every token needs `exp` (30 s of clock leeway on `exp` and `nbf`); `iss` and `aud` are
//! checked when configured (and must be, with a key set: a provider's keys sign tokens for
//! all its tenants).

use super::Scope;
use super::jwks::Jwks;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use platform::config::Settings;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// The longest subject an account is created for.
const MAX_SUBJECT: usize = 255;

/// Who a valid token names, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub subject: String,
    pub scopes: Vec<Scope>,
}

/// Where a token's signature is checked.
enum Trust {
    /// `JWT_SECRET`, HS256.
    Secret(DecodingKey),
    /// The identity provider's published keys.
    Provider(Box<Jwks>),
}

pub struct TokenVerifier {
    trust: Trust,
    issuer: Option<String>,
    audience: Option<String>,
    subject_claim: String,
    admin_subjects: Vec<String>,
    admin_claim: Option<String>,
}

impl TokenVerifier {
    pub fn new(settings: &Settings) -> TokenVerifier {
        let id = &settings.identity;
        let trust = match &id.jwks_url {
            Some(url) => Trust::Provider(Box::new(Jwks::new(url.clone(), id.jwks_ttl, id.jwks_min_refetch))),
            None => Trust::Secret(DecodingKey::from_secret(settings.jwt_secret.expose().as_bytes())),
        };
        TokenVerifier {
            trust,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            subject_claim: id.subject_claim.clone(),
            admin_subjects: id.admin_subjects.clone(),
            admin_claim: id.admin_claim.clone(),
        }
    }

    /// The identity a token proves, or `None` (never why: the caller answers 401 alike).
    pub async fn verify(&self, token: &str) -> Option<Identified> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = match (&self.trust, header.alg) {
            (Trust::Secret(key), Algorithm::HS256) => Cow::Borrowed(key),
            (Trust::Provider(jwks), alg) if alg.family() != jsonwebtoken::AlgorithmFamily::Hmac => {
                Cow::Owned(jwks.key(header.kid.as_deref()?, alg).await?)
            }
            _ => return None,
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &self.validation(header.alg)).ok()?.claims;
        self.identify(&claims)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        match &self.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }

    /// The subject and scopes of verified claims.
    ///
    /// Scopes: a token minted with `JWT_SECRET` is the operator's own and its `scope` claim is
    /// taken as written. A provider's token speaks for a user, so its `scope` may narrow the
    /// billing scopes (when it names any of them) but never grants `admin`; without billing
    /// scopes the account owner gets `billing:read billing:write`. `admin` comes from
    /// `ADMIN_SUBJECTS` or `JWT_ADMIN_CLAIM`, for either kind of token.
    fn identify(&self, claims: &Map<String, Value>) -> Option<Identified> {
        let subject = claims.get(&self.subject_claim)?.as_str()?;
        if subject.is_empty() || subject.len() > MAX_SUBJECT {
            return None;
        }
        let written: Vec<Scope> = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| s.split_whitespace().filter_map(Scope::parse).collect())
            .unwrap_or_default();
        let mut scopes = match self.trust {
            Trust::Secret(_) if claims.contains_key("scope") => written,
            Trust::Secret(_) => vec![Scope::Read, Scope::Write],
            Trust::Provider(_) => {
                let billing: Vec<Scope> = written.into_iter().filter(|s| *s != Scope::Admin).collect();
                if billing.is_empty() { vec![Scope::Read, Scope::Write] } else { billing }
            }
        };
        if !scopes.contains(&Scope::Admin) && self.is_admin(subject, claims) {
            scopes.push(Scope::Admin);
        }
        Some(Identified { subject: subject.to_owned(), scopes })
    }

    fn is_admin(&self, subject: &str, claims: &Map<String, Value>) -> bool {
        if self.admin_subjects.iter().any(|s| s == subject) {
            return true;
        }
        let Some(claim) = &self.admin_claim else { return false };
        match claims.get(claim) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.split_whitespace().any(|r| r == "admin"),
            Some(Value::Array(roles)) => roles.iter().any(|r| r.as_str() == Some("admin")),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "unit-test-secret-0123456789abcdef0123";

    fn settings(extra: &[(&str, &str)]) -> Settings {
        let mut vars: Vec<(&str, &str)> =
            vec![("JWT_SECRET", SECRET), ("STRIPE_WEBHOOK_SECRET", "whsec_unit"), ("TOLLGATE_ENV", "development")];
        vars.extend_from_slice(extra);
        Settings::from_lookup(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
            .expect("settings")
    }

    fn hs256(claims: Value) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("sign")
    }

    fn soon() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[tokio::test]
    async fn accepts_a_good_token_and_nothing_else() {
        let v = TokenVerifier::new(&settings(&[]));
        let good = hs256(json!({"sub": "u1", "scope": "admin", "exp": soon()}));
        assert_eq!(v.verify(&good).await.map(|i| i.subject), Some("u1".to_owned()));
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "u1", "exp": soon()}),
            &EncodingKey::from_secret(b"another-secret-0123456789abcdef0123"),
        )
        .expect("sign");
        assert!(v.verify(&other).await.is_none(), "wrong secret");
        let expired = hs256(json!({"sub": "u1", "exp": chrono::Utc::now().timestamp() - 120}));
        assert!(v.verify(&expired).await.is_none(), "expired");
        assert!(v.verify(&hs256(json!({"sub": "u1"}))).await.is_none(), "no exp");
        assert!(v.verify(&hs256(json!({"sub": "", "exp": soon()}))).await.is_none(), "empty subject");
        // alg none: header {"alg":"none"}, no signature.
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSIsImV4cCI6OTk5OTk5OTk5OX0.";
        assert!(v.verify(none).await.is_none(), "alg none");
        assert!(v.verify("a.b").await.is_none(), "malformed");
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked_when_configured() {
        let v = TokenVerifier::new(&settings(&[("JWT_ISSUER", "https://id.example"), ("JWT_AUDIENCE", "tollgate")]));
        let exp = soon();
        assert!(
            v.verify(&hs256(json!({"sub":"u1","exp":exp,"iss":"https://id.example","aud":["x","tollgate"]})))
                .await
                .is_some()
        );
        assert!(
            v.verify(&hs256(json!({"sub":"u1","exp":exp,"iss":"https://id.example","aud":"tollgate"}))).await.is_some()
        );
        for claims in [
            json!({"sub":"u1","exp":exp,"aud":"tollgate"}),
            json!({"sub":"u1","exp":exp,"iss":"https://evil.example","aud":"tollgate"}),
            json!({"sub":"u1","exp":exp,"iss":"https://id.example"}),
            json!({"sub":"u1","exp":exp,"iss":"https://id.example","aud":["other"]}),
        ] {
            assert!(v.verify(&hs256(claims.clone())).await.is_none(), "{claims}");
        }
    }

    #[tokio::test]
    async fn admin_comes_from_the_configured_subjects_or_claim() {
        let v = TokenVerifier::new(&settings(&[("ADMIN_SUBJECTS", "ops-1, ops-2"), ("JWT_ADMIN_CLAIM", "roles")]));
        let scopes = |claims: Value| {
            let v = &v;
            async move { v.verify(&hs256(claims)).await.map(|i| i.scopes).unwrap_or_default() }
        };
        let exp = soon();
        assert!(scopes(json!({"sub": "ops-2", "exp": exp})).await.contains(&Scope::Admin));
        assert!(scopes(json!({"sub": "u", "exp": exp, "roles": ["viewer", "admin"]})).await.contains(&Scope::Admin));
        assert!(!scopes(json!({"sub": "u", "exp": exp, "roles": ["viewer"]})).await.contains(&Scope::Admin));
        assert_eq!(scopes(json!({"sub": "u", "exp": exp})).await, [Scope::Read, Scope::Write]);
        assert_eq!(scopes(json!({"sub": "u", "exp": exp, "scope": "billing:read"})).await, [Scope::Read]);
    }

    #[test]
    fn a_key_set_without_issuer_and_audience_is_refused_at_start() {
        let vars = [
            ("JWT_SECRET", SECRET),
            ("STRIPE_WEBHOOK_SECRET", "whsec_unit"),
            (
                "JWT_JWKS_URL",
                "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
            ),
        ];
        let err = Settings::from_lookup(&|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
            .expect_err("refused");
        assert!(err.to_string().contains("JWT_JWKS_URL: needs JWT_ISSUER and JWT_AUDIENCE"), "{err}");
    }
}
