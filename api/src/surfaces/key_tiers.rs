//! The key-tier API: upgrade a tier by Stripe, issue the tier's API key, read a key's
//! usage by `X-API-Key` (`/api/v1/billing/*`).

use super::{Routes, finish, for_account, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{keys, tier_checkout, usage};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let guard = |r| for_account(state, r);
    let accounts = OpenApiRouter::new()
        .routes(guard(routes!(tier_checkout::checkout)))
        .routes(guard(routes!(keys::create_tier_key)));
    // Authenticated by the key itself, so open to anyone and rate limited.
    let by_key = OpenApiRouter::new().routes(routes!(usage::key_usage));
    let routes = for_accounts(accounts, state).merge(for_anyone(by_key, public));
    finish(routes, "key_tiers", Envelope::Flat, &state.settings)
}
