//! Authentication: JWT bearer (HS256, `sub` = account subject, `scope` = space-separated
//! `billing:read billing:write admin`) and management keys (`mk_…`, by hash).
//!
//! [`authenticate`] puts a [`Principal`] in the request; handlers take it as an extractor
//! and check the scope they need. Failures never say which part was wrong.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use billing::AccountId;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "billing:read" => Some(Scope::Read),
            "billing:write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: AccountId,
    pub subject: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        // Admin implies every scope; write implies read.
        let ok = self.scopes.contains(&scope)
            || self.scopes.contains(&Scope::Admin)
            || (scope == Scope::Read && self.scopes.contains(&Scope::Write));
        if ok { Ok(()) } else { Err(ApiError::forbidden("this credential lacks the required scope")) }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(ApiError::unauthorized)
    }
}

/// The gateway: `Authorization: Bearer <SERVICE_TOKEN>`, compared in constant time. With
/// no `SERVICE_TOKEN` configured, the service routes refuse everyone.
#[derive(Debug, Clone, Copy)]
pub struct Service;

impl FromRequestParts<AppState> for Service {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if bearer_is(&parts.headers, state.settings.service_token.expose()) {
            Ok(Service)
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Whether the request carries `Authorization: Bearer <expected>`, compared in constant
/// time. An empty `expected` (the token is not configured) matches nothing.
pub fn bearer_is(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// `aud` is a string or a list of strings (RFC 7519 §4.1.3).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(list) => list.iter().any(|a| a == wanted),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    /// Required: a token without an end would be valid forever once leaked.
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
}

/// What a token must satisfy besides its signature.
pub struct JwtRules<'a> {
    pub secret: &'a [u8],
    /// `iss` must equal this when set.
    pub issuer: Option<&'a str>,
    /// `aud` must contain this when set.
    pub audience: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct JwtHeader {
    alg: String,
}

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 30;

/// Verifies an HS256 JWT and returns its claims. Only HS256 is accepted: the header's
/// `alg` is checked, so a token cannot downgrade itself to `none`.
fn verify_jwt(token: &str, rules: &JwtRules<'_>, now: i64) -> Option<Claims> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: JwtHeader = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    if header.alg != "HS256" {
        return None;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(rules.secret).ok()?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    let expected = mac.finalize().into_bytes();
    let given = URL_SAFE_NO_PAD.decode(s).ok()?;
    if !bool::from(given.as_slice().ct_eq(expected.as_slice())) {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    if now > claims.exp + LEEWAY_SECS || claims.nbf.is_some_and(|nbf| now + LEEWAY_SECS < nbf) {
        return None;
    }
    if rules.issuer.is_some_and(|want| claims.iss.as_deref() != Some(want)) {
        return None;
    }
    if rules.audience.is_some_and(|want| !claims.aud.as_ref().is_some_and(|aud| aud.contains(want))) {
        return None;
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return None;
    }
    Some(claims)
}

async fn principal_for(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    if token.starts_with("mk_") {
        let Some(key) = billing::accounts::find_management_key(&state.db, token).await? else {
            return Ok(None);
        };
        let Some(account) =
            <entities::accounts::Entity as sea_orm::EntityTrait>::find_by_id(key.account_id).one(&state.db).await?
        else {
            return Ok(None);
        };
        return Ok(Some(Principal {
            account_id: account.id,
            subject: account.subject,
            scopes: key.scopes.split_whitespace().filter_map(Scope::parse).collect(),
        }));
    }
    let now = chrono::Utc::now().timestamp();
    let settings = &state.settings;
    let rules = JwtRules {
        secret: settings.jwt_secret.expose().as_bytes(),
        issuer: settings.jwt_issuer.as_deref(),
        audience: settings.jwt_audience.as_deref(),
    };
    let Some(claims) = verify_jwt(token, &rules, now) else {
        return Ok(None);
    };
    let account = billing::accounts::ensure(&state.db, &claims.sub).await?;
    let scopes = claims.scope.as_deref().unwrap_or("billing:read billing:write");
    Ok(Some(Principal {
        account_id: account.id,
        subject: account.subject,
        scopes: scopes.split_whitespace().filter_map(Scope::parse).collect(),
    }))
}

/// Middleware for routes that need a caller: a valid credential or 401.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    let principal = principal_for(&state, token).await?.ok_or_else(ApiError::unauthorized)?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(header: &str, claims: &str, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let p = URL_SAFE_NO_PAD.encode(claims);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key");
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    fn rules(secret: &[u8]) -> JwtRules<'_> {
        JwtRules { secret, issuer: None, audience: None }
    }

    #[test]
    fn accepts_a_good_token_and_nothing_else() {
        let good = sign(HS256, r#"{"sub":"u1","scope":"admin","exp":2000}"#, b"k");
        assert_eq!(verify_jwt(&good, &rules(b"k"), 1000).map(|c| c.sub), Some("u1".to_owned()));
        assert!(verify_jwt(&good, &rules(b"other"), 1000).is_none(), "wrong secret");
        assert!(verify_jwt(&good, &rules(b"k"), 3000).is_none(), "expired");
        let none = sign(r#"{"alg":"none"}"#, r#"{"sub":"u1","exp":2000}"#, b"k");
        assert!(verify_jwt(&none, &rules(b"k"), 1000).is_none(), "alg none");
        assert!(verify_jwt("a.b", &rules(b"k"), 1000).is_none(), "malformed");
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let forever = sign(HS256, r#"{"sub":"u1","scope":"admin"}"#, b"k");
        assert!(verify_jwt(&forever, &rules(b"k"), 1000).is_none());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let strict = JwtRules { secret: b"k", issuer: Some("https://id.example"), audience: Some("tollgate") };
        let good = sign(HS256, r#"{"sub":"u1","exp":2000,"iss":"https://id.example","aud":["x","tollgate"]}"#, b"k");
        assert!(verify_jwt(&good, &strict, 1000).is_some());
        let one = sign(HS256, r#"{"sub":"u1","exp":2000,"iss":"https://id.example","aud":"tollgate"}"#, b"k");
        assert!(verify_jwt(&one, &strict, 1000).is_some());
        for claims in [
            r#"{"sub":"u1","exp":2000,"aud":"tollgate"}"#,
            r#"{"sub":"u1","exp":2000,"iss":"https://evil.example","aud":"tollgate"}"#,
            r#"{"sub":"u1","exp":2000,"iss":"https://id.example"}"#,
            r#"{"sub":"u1","exp":2000,"iss":"https://id.example","aud":["other"]}"#,
        ] {
            assert!(verify_jwt(&sign(HS256, claims, b"k"), &strict, 1000).is_none(), "{claims}");
        }
    }
}
