//! Authentication: bearer JWTs (an identity provider's, or HS256 for simple setups:
//! [`jwt`]), management keys (`mk_…`) and, on the subscription API, API keys; the scopes are
//! `billing:read`, `billing:write` and `admin`.
//!
//! [`authenticate`] puts a [`Principal`] in the request; handlers take it as an extractor
//! and check the scope they need. Failures never say which part was wrong.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use billing::AccountId;
use subtle::ConstantTimeEq;

pub mod jwks;
pub mod jwt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "billing:read")]
    Read,
    #[serde(rename = "billing:write")]
    Write,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "billing:read",
            Scope::Write => "billing:write",
            Scope::Admin => "admin",
        }
    }

    /// Space-separated, as stored.
    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }

    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Read, Scope::Write, Scope::Admin].into_iter().find(|scope| scope.as_str() == s)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: AccountId,
    pub subject: String,
    pub scopes: Vec<Scope>,
    pub credential: Credential,
}

/// What the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A JWT: a signed-in person (or the operator's own token).
    Token,
    ManagementKey,
    ApiKey,
}

impl Principal {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        // Admin implies every scope; write implies read.
        let ok = self.scopes.contains(&scope)
            || self.scopes.contains(&Scope::Admin)
            || (scope == Scope::Read && self.scopes.contains(&Scope::Write));
        if ok { Ok(()) } else { Err(ApiError::forbidden("this credential lacks the required scope")) }
    }

    /// Whether the caller holds `scope` (with the implications of [`Principal::require`]).
    pub fn has(&self, scope: Scope) -> bool {
        self.require(scope).is_ok()
    }

    /// The scopes a credential this caller creates may carry: each held by the caller (a key
    /// never widens its creator's reach), `admin` only where `admin_allowed`. `Err` says
    /// which scope is refused (403).
    pub fn delegate(&self, requested: &[Scope], admin_allowed: bool) -> Result<Vec<Scope>, ApiError> {
        if requested.is_empty() || requested.len() > 3 {
            return Err(ApiError::bad_request("invalid_request", "scopes: one to three scopes"));
        }
        let mut out = Vec::new();
        for &scope in requested {
            if scope == Scope::Admin && !admin_allowed {
                return Err(ApiError::forbidden("scopes: admin cannot be given to this kind of key"));
            }
            if !self.has(scope) {
                return Err(ApiError::forbidden(format!(
                    "scopes: {} is more than this credential holds",
                    scope.as_str()
                )));
            }
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Ok(out)
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

/// The value of `Authorization: Bearer <value>` (the scheme in any case, RFC 7235).
fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether the request carries `Authorization: Bearer <expected>`, compared in constant
/// time. An empty `expected` (the token is not configured) matches nothing.
pub fn bearer_is(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    let given = bearer_token(headers).unwrap_or("");
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The account behind a bearer credential, or `None` when nothing matches. Management keys
/// (`mk_…`) and API keys (`tg_…`, or `API_KEY_BEARER_PREFIX`) are looked up by hash; any
/// other token is a JWT.
async fn principal_for(state: &AppState, token: &str, accepted: Accepted) -> Result<Option<Principal>, ApiError> {
    if token.starts_with("mk_") {
        return management_key(state, token).await;
    }
    if is_api_key(&state.settings, token) {
        return match accepted {
            Accepted::WithApiKeys => api_key(state, token).await,
            Accepted::Accounts => Ok(None),
        };
    }
    let Some(who) = state.tokens.verify(token).await else { return Ok(None) };
    let account = billing::accounts::ensure(&state.db, &who.subject).await?;
    Ok(Some(Principal {
        account_id: account.id,
        subject: account.subject,
        scopes: who.scopes,
        credential: Credential::Token,
    }))
}

/// Whether a bearer value is shaped like one of our API keys.
fn is_api_key(settings: &platform::config::Settings, token: &str) -> bool {
    token.starts_with("tg_") || settings.identity.api_key_bearer_prefix.as_deref().is_some_and(|p| token.starts_with(p))
}

async fn management_key(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    let Some(key) = billing::management_keys::find_live(&state.db, token).await? else {
        return Ok(None);
    };
    let Some(account) = billing::accounts::find(&state.db, key.account_id.into()).await? else {
        return Ok(None);
    };
    billing::management_keys::touch(&state.db, key.id, chrono::Utc::now()).await?;
    Ok(Some(Principal {
        account_id: account.id,
        subject: account.subject,
        scopes: key.scopes.split_whitespace().filter_map(Scope::parse).collect(),
        credential: Credential::ManagementKey,
    }))
}

/// An API key as a bearer: its own account, its own scopes (never `admin`). Read through the
/// key cache, so a revocation reaches every api process within `KEY_CACHE_TTL_MS`.
async fn api_key(state: &AppState, token: &str) -> Result<Option<Principal>, ApiError> {
    if token.len() > 200 {
        return Ok(None);
    }
    let hash = billing::accounts::hash_key(token);
    let Some(info) = state.keys.get(&state.db, billing::verify::KeyRef::Hash(&hash)).await? else {
        return Ok(None);
    };
    let key = &info.key;
    let now = chrono::Utc::now();
    if key.status == entities::KeyStatus::Revoked || key.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let Some(account) = billing::accounts::find(&state.db, key.account_id.into()).await? else {
        return Ok(None);
    };
    Ok(Some(Principal {
        account_id: account.id,
        subject: account.subject,
        scopes: key.scopes.split_whitespace().filter_map(Scope::parse).filter(|s| *s != Scope::Admin).collect(),
        credential: Credential::ApiKey,
    }))
}

/// Which credentials a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A JWT or a management key.
    Accounts,
    /// Those, and an API key as the bearer (the subscription API: `Authorization: Bearer inf_…`,
    /// the key's account with the key's scopes).
    WithApiKeys,
}

/// Middleware for routes that need a caller: a credential of the `Accepted` kinds, or 401.
pub async fn authenticate(
    State((state, accepted)): State<(AppState, Accepted)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer_token(req.headers()).ok_or_else(ApiError::unauthorized)?;
    let principal = principal_for(&state, token, accepted).await?.ok_or_else(ApiError::unauthorized)?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
