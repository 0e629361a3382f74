//! The router: routes grouped by resource, with the layers every request passes.

pub mod admin_credits;
pub mod admin_jobs;
pub mod admin_plans;
pub mod cards;
pub mod checkin;
pub mod coupons;
pub mod credits;
pub mod entitlements;
pub mod health;
pub mod history;
pub mod keys;
pub mod plans;
pub mod pools;
pub mod reconciliation;
pub mod retired;
pub mod status;
pub mod subscription;
pub mod tier_checkout;
pub mod topup;
pub mod usage;
pub mod usdc;
pub mod verify;
pub mod webhooks;

use crate::state::AppState;
use crate::{auth, client_limits, error, idempotency, openapi};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: UUIDv4 from the thread's CSPRNG. (`MakeRequestUuid` asks the kernel for
/// random bytes on every request, a syscall on the hot path.)
#[derive(Clone, Copy)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        axum::http::HeaderValue::from_str(&id.to_string()).ok().map(RequestId::new)
    }
}

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();

    // Routes that need a caller. Layers run bottom-up: authenticate, then idempotency.
    let authed = Router::new()
        .route("/api/billing/credits", get(credits::billing_credits))
        .route("/credits/balance", get(credits::balance))
        .route("/checkin", post(checkin::check_in))
        .route("/api/billing/status", get(status::status))
        .route("/api/billing/payment-methods", get(cards::payment_methods))
        .route("/api/billing/payment-methods/{id}", axum::routing::delete(cards::delete_payment_method))
        .route("/api/billing/setup-intent", post(cards::setup_intent))
        .route("/api/billing/setup-checkout", post(cards::setup_checkout))
        .route("/api/billing/portal", post(cards::portal))
        .route("/subscription/portal", post(cards::subscription_portal))
        .route("/api/billing/cancel", post(status::cancel))
        .route("/orders", get(history::orders))
        .route("/orders/{id}", get(history::order))
        .route("/credits/transactions", get(history::credit_transactions))
        .route("/api/billing/transactions", get(history::billing_transactions))
        .route("/api/billing/payment-address", get(usdc::address))
        .route("/api/billing/checkout", post(usdc::checkout))
        .route("/api/billing/verify-payment", post(usdc::verify_payment))
        .route("/api/billing/topup", post(topup::topup))
        .route("/api/billing/verify-topup", post(usdc::verify_topup))
        .route("/api/billing/wallet", axum::routing::put(usdc::bind_wallet).delete(usdc::unbind_wallet))
        .route("/api/billing/wallet/challenge", post(usdc::wallet_challenge))
        .route("/admin/usdc/unmatched", get(usdc::unmatched))
        .route(
            "/subscription",
            get(subscription::get).post(subscription::create).put(subscription::update).delete(subscription::cancel),
        )
        .route("/subscription/resume", post(subscription::resume))
        .route("/payment/create-session", post(subscription::create_session))
        .route("/api/pools", get(pools::list))
        .route("/api/pools/{slug}", get(pools::one))
        .route("/api/pools/{slug}/my-pledge", get(pools::my_pledge))
        .route("/api/pools/{slug}/subscribe", post(pools::subscribe))
        .route("/api/v1/billing/checkout", post(tier_checkout::checkout))
        .route("/api/v1/billing/api-keys", post(keys::create_tier_key))
        .route("/api/keys", get(keys::list))
        .route("/api/keys/subscription", post(keys::create_subscription_key))
        .route("/api/keys/credit", post(keys::create_credit_key))
        .route("/api/keys/{id}/rotate", post(keys::rotate))
        .route("/api/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/admin/billing/coupons", get(coupons::list).post(coupons::create))
        .route("/admin/billing/plans", get(admin_plans::list).post(admin_plans::create))
        .route("/admin/billing/plans/{id}", axum::routing::put(admin_plans::update))
        .route("/admin/credits/transactions", get(admin_credits::transactions))
        .route("/admin/credits/manual", post(admin_credits::manual))
        .route("/admin/checkin/config", get(checkin::get_config).put(checkin::put_config))
        .route("/entitlements", get(entitlements::list))
        .route("/entitlements/usage", get(entitlements::usage))
        .route("/admin/reconciliation", get(reconciliation::report))
        .route("/admin/reconciliation/run", post(reconciliation::run))
        .route("/admin/jobs/dead", get(admin_jobs::dead))
        .route("/admin/jobs/requeue-dead", post(admin_jobs::requeue_all))
        .route("/admin/jobs/{id}/requeue", post(admin_jobs::requeue))
        .route("/admin/queues", get(admin_jobs::queues))
        .route("/admin/queues/{queue}/pause", post(admin_jobs::pause))
        .route("/admin/queues/{queue}/resume", post(admin_jobs::resume))
        .route_layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));

    // Stripe webhooks read their own body so an oversized one is a 400, as Stripe expects
    // for any rejected delivery, rather than the generic 413.
    let webhooks = Router::new()
        .route("/payment/webhook/stripe", post(webhooks::stripe))
        .route("/webhooks/stripe", post(webhooks::stripe))
        .layer(DefaultBodyLimit::disable());
    let webhooks = client_limits::limit(webhooks, settings.webhook_rate_per_second);

    // The gateway's routes: the service token, no account; usage batches may be large.
    let service = Router::new()
        .route("/api/v1/keys/verify", post(verify::verify))
        .route("/api/v1/usage", post(usage::ingest))
        .layer(DefaultBodyLimit::max(usage::MAX_BODY_BYTES));

    // Anyone may call these: each client is rate limited.
    let open = Router::new()
        .route("/api/v1/billing/usage", get(usage::key_usage))
        .route("/plans", get(plans::list))
        .route("/subscription/plans", get(plans::list_in_credits))
        .route("/api/plans", get(retired::legacy_plans))
        .route("/api/billing/subscribe", post(retired::legacy_subscribe))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::page));
    let open = client_limits::limit(open, settings.public_rate_per_second);

    // Probes and the scrape: unlimited (a load balancer and Prometheus call them).
    let public = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/ready", get(health::ready));

    Router::new()
        .merge(authed)
        .merge(webhooks)
        .merge(service)
        .merge(open)
        .merge(public)
        .layer(from_fn(error::render))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, RandomId))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // Method, path and request id only: headers and bodies may hold secrets.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    settings.request_timeout,
                )),
        )
        .with_state(state)
}
