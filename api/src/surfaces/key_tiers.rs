//! The key-tier API: upgrade a tier by Stripe, issue the tier's API key, read a key's
//! usage by `X-API-Key` (`/api/v1/billing/*`); the webhook endpoints the tier allows
//! (`/api/v1/webhooks*`).

use super::{Routes, finish, for_account, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{keys, tier_checkout, usage, webhook_endpoints as hooks};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let guard = |r| for_account(state, r);
    let accounts = OpenApiRouter::new()
        .routes(guard(routes!(tier_checkout::checkout)))
        .routes(guard(routes!(keys::create_tier_key)))
        .routes(guard(routes!(hooks::create, hooks::list)))
        .routes(guard(routes!(hooks::events)))
        .routes(guard(routes!(hooks::settings, hooks::update_settings)))
        .routes(guard(routes!(hooks::get, hooks::delete)))
        .routes(guard(routes!(hooks::rotate_secret)))
        .routes(guard(routes!(hooks::enable)))
        .routes(guard(routes!(hooks::attempts)))
        .routes(guard(routes!(hooks::redeliver)));
    // Authenticated by the key itself, so open to anyone and rate limited.
    let by_key = OpenApiRouter::new().routes(routes!(usage::key_usage));
    let routes = for_accounts(accounts, state).merge(for_anyone(by_key, public));
    finish(routes, "key_tiers", Envelope::Flat, &state.settings)
}
