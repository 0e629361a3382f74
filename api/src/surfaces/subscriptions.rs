//! The subscription API: self-serve plans, the team's subscription and its changes,
//! entitlements and their usage (`/plans`, `/subscription*`, `/entitlements*`).

use super::{Routes, finish, for_account_or_key, for_accounts, for_anyone};
use crate::client_limits::ClientLimit;
use crate::error::Envelope;
use crate::routes::{cards, entitlements, plans, subscription};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes(state: &AppState, public: &ClientLimit) -> Routes {
    let guard = |r| for_account_or_key(state, r);
    let accounts = OpenApiRouter::new()
        .routes(guard(routes!(subscription::get, subscription::create, subscription::update, subscription::cancel)))
        .routes(guard(routes!(subscription::resume)))
        .routes(guard(routes!(cards::subscription_portal)))
        .routes(guard(routes!(entitlements::list)))
        .routes(guard(routes!(entitlements::usage)));
    let catalog = OpenApiRouter::new().routes(routes!(plans::list));
    let routes = for_accounts(accounts, state).merge(for_anyone(catalog, public));
    finish(routes, "subscriptions", Envelope::Typed, &state.settings)
}
