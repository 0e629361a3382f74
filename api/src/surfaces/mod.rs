//! One router per API surface. Each surface is an [`OpenApiRouter`]: its route table and its
//! part of the OpenAPI document come from the same `routes!` calls, so a served route is a
//! documented route. Each surface sets its own error envelope, access rule and limits where
//! it is built; nothing downstream looks at the request path to decide them.
//!
//! | surface | routes | error envelope |
//! |---|---|---|
//! | [`billing`] | `/api/billing/*`, `/api/keys*`, `/api/pools*`, `/api/plans` | `{success: false, error: {code, message}}` |
//! | [`credits`] | `/credits/*`, `/orders*`, `/checkin`, `/payment/create-session`, `/subscription/plans` | same |
//! | [`subscriptions`] | `/plans`, `/subscription*`, `/entitlements*` | `{error: {type, message, …}}` |
//! | [`key_tiers`] | `/api/v1/billing/*`, `/api/v1/webhooks*` | `{error, message, details}` |
//! | [`gateway`] | `/api/v1/keys/verify`, `/api/v1/usage` | `{error, message, details}` |
//! | [`admin`] | `/admin/*` | `{success: false, error: {code, message}}` |
//! | [`webhooks`] | `/payment/webhook/stripe`, `/webhooks/stripe`, `/payment/webhook/creem` | same |
//! | [`operations`] | `/health`, `/ready`, `/metrics`, `/openapi.json`, `/docs` | same |

pub mod admin;
pub mod billing;
pub mod credits;
pub mod document;
pub mod gateway;
pub mod key_tiers;
pub mod operations;
pub mod subscriptions;
pub mod webhooks;

use crate::client_limits::ClientLimit;
use crate::error::{ApiError, Envelope};
use crate::state::AppState;
use crate::{auth, error, idempotency};
use ::platform::config::Settings;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::from_fn_with_state;
use document::Access;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

pub type Routes = OpenApiRouter<AppState>;

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

/// Every surface's routes together, with the whole document.
pub fn api(state: &AppState, public: &ClientLimit) -> Routes {
    let settings = &state.settings;
    OpenApiRouter::with_openapi(document::ApiDoc::openapi())
        .merge(billing::routes(state, public))
        .merge(credits::routes(state, public))
        .merge(subscriptions::routes(state, public))
        .merge(key_tiers::routes(state, public))
        .merge(gateway::routes(settings))
        .merge(admin::routes(state))
        .merge(webhooks::routes(settings))
        .merge(operations::routes(settings))
}

/// The served application: the surfaces, the interactive docs, and the layers every request
/// passes (request id, trace).
pub fn router(state: AppState) -> Router {
    // Every route anyone may call shares one per-client budget.
    let public = ClientLimit::per_second(state.settings.public_rate_per_second);
    let (routes, doc) = api(&state, &public).split_for_parts();
    routes
        .merge(operations::docs(doc, &public))
        .merge(public.apply_router(crate::pages::router(&state)))
        // An unknown path belongs to no surface: the billing envelope, the most common one.
        .fallback(|| async { Envelope::Success.error_response(&ApiError::not_found("route")) })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, RandomId))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // Method, path and request id only: headers and bodies may hold secrets.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
        .with_state(state)
}

/// One route that acts for an account: a bearer credential (authenticate), then
/// `Idempotency-Key` replay. Layered on the route's methods, not on the route as a whole,
/// so that a method the route lacks is a plain 405 before either runs.
fn for_account(state: &AppState, route: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    guarded(state, route, auth::Accepted::Accounts)
}

/// One route of the subscription API: as [`for_account`], and an API key is also taken as
/// the bearer (`Authorization: Bearer inf_…`), acting for its account with its scopes.
fn for_account_or_key(state: &AppState, route: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    guarded(state, route, auth::Accepted::WithApiKeys)
}

fn guarded(
    state: &AppState,
    (schemas, paths, methods): UtoipaMethodRouter<AppState>,
    accepted: auth::Accepted,
) -> UtoipaMethodRouter<AppState> {
    let methods = methods
        .route_layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .route_layer(from_fn_with_state((state.clone(), accepted), auth::authenticate));
    (schemas, paths, methods)
}

/// Routes that act for an account (each [`for_account`]): bodies up to `MAX_BODY_BYTES`,
/// and the errors such routes can give in the document.
fn for_accounts(routes: Routes, state: &AppState) -> Routes {
    let mut routes = routes.layer(DefaultBodyLimit::max(state.settings.max_body_bytes));
    document::errors_of(routes.get_openapi_mut(), Access::Account);
    routes
}

/// Routes anyone may call: each client is rate limited.
fn for_anyone(routes: Routes, public: &ClientLimit) -> Routes {
    let mut routes = public.apply(routes);
    document::errors_of(routes.get_openapi_mut(), Access::Anyone);
    routes
}

/// The last step of every surface: its request timeout, and its error envelope around
/// everything inside (handlers, extractors, auth, limits, the timeout's 408), in the
/// document as in the responses.
fn finish(routes: Routes, tag: &str, envelope: Envelope, settings: &Settings) -> Routes {
    let mut routes = routes
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(from_fn_with_state(envelope, error::render));
    document::envelope_of(routes.get_openapi_mut(), envelope);
    document::name_operations(routes.get_openapi_mut(), tag);
    routes
}

#[cfg(test)]
mod tests {
    /// A route added with `.route(` would be served but missing from the document: the
    /// surfaces register routes only through `routes!`.
    #[test]
    fn surfaces_register_routes_only_through_the_document() {
        let sources = [
            include_str!("admin.rs"),
            include_str!("billing.rs"),
            include_str!("credits.rs"),
            include_str!("gateway.rs"),
            include_str!("key_tiers.rs"),
            include_str!("operations.rs"),
            include_str!("subscriptions.rs"),
            include_str!("webhooks.rs"),
        ];
        for src in sources {
            assert!(!src.contains(".route("), "an undocumented route:\n{src}");
        }
    }
}
