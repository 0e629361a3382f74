//! The OpenAPI document at `/openapi.json` and an interactive page at `/docs`.

use crate::routes::{
    admin_credits, admin_jobs, admin_plans, cards, checkin, coupons, credits, entitlements, health, history, keys,
    plans, pools, reconciliation, retired, status, subscription, tier_checkout, topup, usdc, webhooks,
};
use axum::Json;
use axum::response::Html;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tollgate", description = "Billing backend for API products"),
    paths(health::health, health::ready, webhooks::stripe, credits::billing_credits, credits::balance, checkin::check_in,
        usdc::address, usdc::checkout, usdc::verify_payment, topup::topup, cards::payment_methods, cards::delete_payment_method, cards::setup_intent, cards::setup_checkout, cards::portal, cards::subscription_portal, usdc::verify_topup, usdc::bind_wallet, usdc::unbind_wallet, retired::legacy_plans, retired::legacy_subscribe, usdc::wallet_challenge, usdc::unmatched,
        history::orders, history::order, history::credit_transactions, history::billing_transactions, status::status, status::cancel,
        admin_jobs::dead, admin_jobs::requeue, admin_jobs::requeue_all, admin_jobs::queues, admin_jobs::pause, admin_jobs::resume,
        plans::list, plans::list_in_credits, subscription::get, subscription::create, subscription::update, subscription::cancel,
        subscription::resume, subscription::create_session, pools::list, pools::one, pools::my_pledge, pools::subscribe,
        tier_checkout::checkout, coupons::list, coupons::create, reconciliation::report, reconciliation::run,
        keys::create_tier_key, keys::create_subscription_key, keys::create_credit_key, keys::list, keys::rotate, keys::revoke,
        admin_plans::list, admin_plans::create, admin_plans::update, admin_credits::transactions, admin_credits::manual,
        checkin::get_config, checkin::put_config, entitlements::list, entitlements::usage),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT or mk_ key").build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Swagger UI loaded from a CDN, pointed at our document: try any route from the browser.
pub async fn page() -> Html<&'static str> {
    Html(
        r##"<!doctype html><html><head><title>Tollgate API</title><meta charset="utf-8">
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div><script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script></body></html>"##,
    )
}
