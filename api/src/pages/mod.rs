//! The pages people look at, served by the api itself: pricing, subscription settings with
//! usage, the upgrade modal any page of the host product can include, and the operators'
//! dashboard (`/admin`).
//!
//! Server-rendered with minijinja (templates compiled into the binary, HTML auto-escaped),
//! with small scripts that call the JSON API from the browser; every asset is embedded, so
//! there is no frontend server and no build step at run time. The pages hold no secret: the
//! host product hands its user's bearer token over in the URL fragment (`#token=…`, never
//! sent to a server), the script keeps it in the tab's `sessionStorage` and sends it as an
//! `Authorization` header — no cookie, so no request can be forged from another site. A
//! strict Content-Security-Policy allows only this origin's scripts, styles and API.

mod assets;
mod dev;
mod views;

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

/// What a page may load: this origin's scripts, styles and API, nothing inline.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router(state: &AppState) -> Router<AppState> {
    let mut pages = Router::new()
        .route("/pricing", get(views::pricing))
        .route("/settings/billing/subscription", get(views::subscription))
        .route("/admin", get(views::admin))
        // Where the default checkout URLs of earlier versions sent customers.
        .route("/billing", get(views::billing_redirect))
        .route("/assets/{name}", get(assets::serve));
    if state.settings.environment == platform::config::Environment::Development {
        pages = pages.route("/dev/sign-in", get(dev::sign_in));
    }
    pages
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}
