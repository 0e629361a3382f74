//! Development only (`TOLLGATE_ENV=development`; the route does not exist otherwise): a link
//! that signs in a demo account, or a demo admin, with a short-lived HS256 token under the
//! development `JWT_SECRET`, and opens a page with it.

use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SignIn {
    /// `demo` (default) or `admin`.
    #[serde(rename = "as")]
    who: Option<String>,
    /// The page to open: `pricing` (default) or `subscription`.
    to: Option<String>,
}

pub async fn sign_in(State(state): State<AppState>, Query(q): Query<SignIn>) -> Response {
    let (sub, scope) = match q.who.as_deref() {
        Some("admin") => ("demo-admin", "billing:read billing:write admin"),
        _ => ("demo", "billing:read billing:write"),
    };
    let page = match q.to.as_deref() {
        Some("subscription") => "/settings/billing/subscription",
        _ => "/pricing",
    };
    match token(state.settings.jwt_secret.expose(), sub, scope) {
        Ok(t) => Redirect::to(&format!("{page}#token={t}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// A token for `sub`, valid for 12 hours.
pub fn token(secret: &str, sub: &str, scope: &str) -> Result<String, String> {
    let exp = chrono::Utc::now().timestamp() + 12 * 3600;
    let claims = serde_json::json!({"sub": sub, "scope": scope, "exp": exp});
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).map_err(|e| e.to_string())
}
